-- Two-factor login (TOTP). One factor per user: enrolled (confirmed_at
-- NULL, expires unconfirmed) or on. The secret is stored sealed (see
-- auth::mfa::MfaKey); last_step is the newest TOTP step accepted, so no
-- code is accepted twice.
CREATE TABLE totp_factors (
    user_id BIGINT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- One-time recovery codes, as SHA-256 hashes; a used one is deleted.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- A login halfway through: the password was right, the second factor is
-- due. Named by the SHA-256 of its mfa_token; password_tag binds it to the
-- password hash that was checked. Deleted when used.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_tag TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);

-- How the session's user logged in (RFC 8176 amr values, space-separated).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
