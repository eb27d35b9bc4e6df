-- An account's email: the address (verified or not) and the one it asked
-- to change to, waiting for verification. Only verified addresses are
-- unique (case-insensitively, by `address_key`): an unverified address
-- never blocks anyone.
CREATE TABLE user_emails (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    address TEXT,
    address_key TEXT,
    verified BOOLEAN NOT NULL DEFAULT false,
    pending TEXT
);
CREATE UNIQUE INDEX user_emails_verified_address ON user_emails (address_key) WHERE verified;

-- Single-use links mailed to the account: to verify an address, or to
-- reset the password. The token is derived from `id` with a key the
-- database does not hold alone (see `auth::links`); only its hash is here.
CREATE TABLE email_links (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_links_user ON email_links (user_id, purpose, created_at);

-- The transactional outbox: a mail stored in the transaction that made its
-- link, delivered later by whichever instance claims it (`lease_until`),
-- retried with backoff until sent or refused for good. A link that goes
-- (superseded, its account deleted, pruned) takes its mail with it.
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    link_id TEXT NOT NULL REFERENCES email_links (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    network TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (due_at) WHERE sent_at IS NULL AND failed_at IS NULL;
