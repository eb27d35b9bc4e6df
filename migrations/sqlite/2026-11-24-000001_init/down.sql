DROP TABLE signing_keys;
DROP TABLE revoked_sessions;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE posts;
DROP TABLE users;
