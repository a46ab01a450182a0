-- PostgreSQL's form of sql/sqlite/V2__account_keys.sql: the comparison keys of accounts,
-- computed in Rust by the domain (chat::accounts::name_key and email_key). Unique indexes allow
-- any number of NULLs; the domain's backfill fills them.
ALTER TABLE users ADD COLUMN name_key TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
CREATE UNIQUE INDEX users_by_name_key ON users (name_key);
CREATE UNIQUE INDEX users_by_email_key ON users (email_key);
