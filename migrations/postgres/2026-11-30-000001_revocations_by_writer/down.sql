DROP INDEX revoked_sessions_writer_xid;
ALTER TABLE revoked_sessions DROP COLUMN writer_xid;
