DROP TABLE service_secrets;
ALTER TABLE refresh_tokens DROP COLUMN successor_hash;
