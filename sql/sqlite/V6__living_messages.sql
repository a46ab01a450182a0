-- Living messages: edits, deletions (tombstones), replies and reactions. Each edit, deletion and
-- reaction change also takes a log position (`changes` kinds 'edit', 'delete', 'react'), so a
-- client resuming with `?since=` replays them in the one order.

-- `deleted_at` set: the text is gone (content '' and mentions NULL), the row stays so that ids
-- and log positions stay dense. `reply_to`: a message of the same room, checked on insert.
ALTER TABLE messages ADD COLUMN edited_at TEXT;
ALTER TABLE messages ADD COLUMN deleted_at TEXT;
ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages (id);

CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages (id),
    emoji      TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT    NOT NULL,
    -- The log position of the change that added it: the order people reacted in.
    seq        INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

-- Who deleted someone else's message, and why (the audit log; never the text).
CREATE TABLE deletions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    room_id    INTEGER NOT NULL,
    sender_id  INTEGER NOT NULL REFERENCES users (id),
    actor_id   INTEGER REFERENCES users (id),
    actor      TEXT    NOT NULL,
    reason     TEXT,
    timestamp  TEXT    NOT NULL
);
