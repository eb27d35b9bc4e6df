-- The WebAuthn user handle of an account that registered a passkey: a
-- random UUID, never the account id (authenticators show and keep it).
CREATE TABLE passkey_users (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle TEXT NOT NULL UNIQUE
);

-- Registered passkeys: the credential as webauthn-rs keeps it (public key,
-- signature counter), by its credential id.
CREATE TABLE passkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Registration and login ceremonies waiting for the browser's answer:
-- single-use, 5 minutes, finished on any instance.
CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
