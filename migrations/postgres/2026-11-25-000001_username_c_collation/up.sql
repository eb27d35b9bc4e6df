-- Usernames are ASCII, unique and looked up by lower(username). Under the
-- database's default collation lower() follows its locale: in a Turkish one
-- lower('I') is 'ı', so "Ivan" could never log in as "ivan" and "Ivan" and
-- "ivan" could both sign up. Under the C collation lower() maps A-Z to a-z
-- and nothing else, as the application's key does (SQLite's lower() already
-- does). Changing the type rebuilds users_username_lower with it.
ALTER TABLE users ALTER COLUMN username TYPE TEXT COLLATE "C";
