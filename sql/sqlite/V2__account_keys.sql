-- Comparison keys of accounts, computed in Rust by the domain (chat::accounts::name_key and
-- email_key): a username's look-alike key (UTS #39 skeleton, case folded) and the Unicode
-- lower-cased e-mail address (SQLite's NOCASE and lower() fold ASCII only).
--
-- Existing rows start with NULL keys and are filled by the domain's backfill when the daemon or
-- `user create` starts. A database may already hold two names that now count as one: the
-- indexes allow any number of NULLs, so this migration never fails for them; the backfill leaves
-- the later account without the key and warns.
ALTER TABLE users ADD COLUMN name_key TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users (name_key);
CREATE UNIQUE INDEX users_by_email_key ON users (email_key);
