-- The refresh grace window: a used refresh token remembers the hash of the
-- successor it was rotated into, so that presenting it again shortly after
-- (a second tab, a retry after a lost answer) can be answered with that
-- same successor instead of counting as reuse.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;

-- Secrets every instance shares (the key successors are derived with).
CREATE TABLE service_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
