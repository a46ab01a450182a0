-- Several daemons on one database: account changes take log positions, and each instance says
-- who is online on it.

-- The log also carries account changes ('account': user_id's block or role changed; `value`
-- holds the new flags, 1 = blocked, 2 = admin; room_id 0), so every instance closes the
-- account's sockets in log order. The list of kinds moves out of the table into the store's
-- `Change` mapping (src/store/shared.rs): SQLite cannot change a CHECK without rebuilding the
-- table, and the log is the one table that grows with every read marker.
CREATE TABLE changes_v4 (
    seq       INTEGER PRIMARY KEY,
    kind      TEXT    NOT NULL,
    room_id   INTEGER NOT NULL,
    user_id   INTEGER,
    value     INTEGER,
    timestamp TEXT    NOT NULL
);
INSERT INTO changes_v4 (seq, kind, room_id, user_id, value, timestamp)
    SELECT seq, kind, room_id, user_id, value, timestamp FROM changes;
DROP TABLE changes;
ALTER TABLE changes_v4 RENAME TO changes;

-- A running `chatterbox serve`, with its last heartbeat in unix seconds by the database's clock
-- (the one clock every instance shares). An instance that stops beating is dead: the others
-- delete it and its presence.
CREATE TABLE instances (
    id         TEXT    PRIMARY KEY,
    started_at TEXT    NOT NULL,
    seen_at    INTEGER NOT NULL
);

-- Who is online on which instance, with how many sockets (the per-account socket cap counts
-- them on every instance; 0 while a user who just left is within the presence grace).
CREATE TABLE presence (
    instance TEXT    NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sockets  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (instance, user_id)
);
