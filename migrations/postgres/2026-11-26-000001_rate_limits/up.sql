-- The credential routes' rate limit, shared by every instance on this
-- database: one row per client (an IPv4 address or an IPv6 /64) holding its
-- GCRA theoretical arrival time, in microseconds since the Unix epoch. A row
-- whose time has passed means the same as no row; such rows are pruned
-- (by a scan: the table holds only the last minute's clients, and an index
-- would cost every request a second write).
CREATE TABLE rate_limits (
    client TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
