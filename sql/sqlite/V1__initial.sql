-- The design document's users and messages tables, the moderation audit log, and daemon settings.
-- Timestamps are UTC RFC 3339 text with milliseconds and a `Z` ("2026-11-23T22:15:00.070Z"):
-- fixed width, so text order is time order and range queries can use an index.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NOCASE: "Alice" and "alice" are the same account (usernames are ASCII by validation).
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    is_blocked    INTEGER NOT NULL DEFAULT 0 CHECK (is_blocked IN (0, 1)),
    warning_count INTEGER NOT NULL DEFAULT 0 CHECK (warning_count >= 0),
    created_at    TEXT    NOT NULL
);

-- AUTOINCREMENT so an id is never reused, even after the newest rows were lost or deleted:
-- clients resume with `?since=ID` and must never see a recycled id.
CREATE TABLE messages (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id INTEGER NOT NULL REFERENCES users (id),
    content   TEXT    NOT NULL,
    timestamp TEXT    NOT NULL
);
CREATE INDEX messages_by_timestamp ON messages (timestamp);

CREATE TABLE violations (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users (id),
    action    TEXT    NOT NULL CHECK (action IN ('warning', 'block', 'unblock')),
    -- The offending message and the matched term (NULL for manual actions).
    text      TEXT,
    term      TEXT,
    reason    TEXT,
    -- 'moderation', 'cli', or the acting admin's username.
    actor     TEXT    NOT NULL,
    timestamp TEXT    NOT NULL
);
CREATE INDEX violations_by_user ON violations (user_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Bumped by triggers on every change to users, so the daemon can notice blocks and role changes
-- made by the operator CLI (another process) with one cheap read instead of rescanning users.
CREATE TABLE account_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO account_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER users_changed_update AFTER UPDATE ON users
BEGIN
    UPDATE account_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER users_changed_insert AFTER INSERT ON users
BEGIN
    UPDATE account_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER users_changed_delete AFTER DELETE ON users
BEGIN
    UPDATE account_revision SET revision = revision + 1 WHERE id = 1;
END;
