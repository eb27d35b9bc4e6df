-- What a user sees of their sessions (GET /sessions): when each was last
-- used (moved on every refresh), a short label of the client's user agent,
-- and the client's address, coarsened (IPv4 /24, IPv6 /48).
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
