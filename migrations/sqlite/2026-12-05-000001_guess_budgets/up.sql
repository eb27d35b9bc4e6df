-- Per-account budgets against guessing (domain::guessing): wrong
-- passwords by the name typed, wrong second-factor codes by account.
-- Pruned once they can no longer matter.
CREATE TABLE guess_budgets (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_secs INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (kind, subject)
);
CREATE INDEX guess_budgets_window_start ON guess_budgets (window_start);

-- The networks (IPv4 /24, IPv6 /48) an account signed up or logged in
-- from: they keep logging in while its password budget is spent.
CREATE TABLE login_networks (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    network TEXT NOT NULL,
    last_login_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, network)
);
CREATE INDEX login_networks_last_login_at ON login_networks (last_login_at);
