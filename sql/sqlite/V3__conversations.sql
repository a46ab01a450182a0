-- Conversations (public rooms, private rooms, direct messages) and the ordered log.
--
-- The log: every entry the daemon fans out (a message; a membership, room or read-marker change)
-- takes a position from `log_counter` in the same transaction that writes it. Writers of the
-- counter row queue on its lock, so positions are dense and commit-ordered: a reader that has
-- seen position N and asks for "> N" can never skip an entry committed later with a smaller
-- position. A message's id is its position; other entries live in `changes`.

CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
    -- NULL for DMs. `name_key` is the name folded by the domain (Unicode lower case): unique
    -- among public rooms only, so that trying a name never tells anyone a private room has it.
    name       TEXT,
    name_key   TEXT,
    topic      TEXT,
    -- DMs: the members' ids, sorted and comma-joined, so one set of people has one DM.
    dm_key     TEXT    UNIQUE,
    created_by INTEGER REFERENCES users (id),
    created_at TEXT    NOT NULL,
    archived   INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    -- New accounts join it (`general`, and the rooms of `serve --auto-join`).
    auto_join  INTEGER NOT NULL DEFAULT 0 CHECK (auto_join IN (0, 1))
);
CREATE UNIQUE INDEX rooms_by_public_name ON rooms (name_key) WHERE kind = 'public';
CREATE INDEX rooms_by_name ON rooms (name_key);
INSERT INTO rooms (id, kind, name, name_key, created_at, auto_join)
VALUES (1, 'public', 'general', 'general', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 1);

CREATE TABLE members (
    room_id      INTEGER NOT NULL REFERENCES rooms (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    joined_at    TEXT    NOT NULL,
    -- Moves forward only.
    last_read_id INTEGER NOT NULL DEFAULT 0,
    notify       TEXT    NOT NULL DEFAULT 'all' CHECK (notify IN ('all', 'mentions', 'none')),
    -- A DM its member hid; a new message in it shows it again.
    hidden       INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (user_id, room_id);

-- Everyone who could read the one room before joins `general`, having read what was there.
INSERT INTO members (room_id, user_id, joined_at, last_read_id)
SELECT 1, id, created_at, COALESCE((SELECT MAX(id) FROM messages), 0) FROM users;

-- Every message written before rooms existed was written in `general`. (ADD COLUMN cannot
-- carry a REFERENCES clause with a non-NULL default while foreign keys are on; the domain
-- only ever writes ids of existing rooms.)
ALTER TABLE messages ADD COLUMN room_id INTEGER NOT NULL DEFAULT 1;
-- The mentioned members' usernames, space-separated (usernames have no spaces), for the frames;
-- `mentions` below is the same fact indexed for counting.
ALTER TABLE messages ADD COLUMN mentions TEXT;
CREATE INDEX messages_by_room ON messages (room_id, id);

-- Members a message mentions: the unread-mentions count is a range scan per member and room.
CREATE TABLE mentions (
    user_id    INTEGER NOT NULL REFERENCES users (id),
    room_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    PRIMARY KEY (user_id, room_id, message_id)
) WITHOUT ROWID;

CREATE TABLE log_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    next INTEGER NOT NULL
);
-- After every id ever handed out (AUTOINCREMENT's record also covers deleted newest rows).
INSERT INTO log_counter (id, next)
SELECT 1, MAX(COALESCE((SELECT MAX(id) FROM messages), 0),
              COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)) + 1;

-- Log entries that are not messages. kind:
--   'member'   user_id joined or was added to room_id (or a DM with them was made)
--   'unmember' user_id left or was removed from room_id
--   'hide'     user_id hid the DM room_id (still a member: its next message shows it again)
--   'room'     room_id changed (archived, topic)
--   'read'     user_id's read marker in room_id moved to `value`
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY,
    kind      TEXT    NOT NULL CHECK (kind IN ('member', 'unmember', 'hide', 'room', 'read')),
    room_id   INTEGER NOT NULL,
    user_id   INTEGER,
    value     INTEGER,
    timestamp TEXT    NOT NULL
);
