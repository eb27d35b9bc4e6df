-- Instances follow revoked_sessions by the transaction that wrote each row,
-- not by id: PostgreSQL draws an id when a row is inserted but shows the row
-- only at commit, so ids do not arrive in commit order (a long transaction,
-- or a sequence with a cache, commits a low id after higher ones). A reader
-- remembers the oldest transaction still running when it read (its
-- snapshot's xmin) and next time reads every row written by that
-- transaction or a later one: nothing committed after a read is skipped.
ALTER TABLE revoked_sessions
    ADD COLUMN writer_xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX revoked_sessions_writer_xid ON revoked_sessions (writer_xid);
