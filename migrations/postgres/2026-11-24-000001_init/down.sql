DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE posts;
DROP TABLE users;
