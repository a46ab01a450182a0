-- Moderation a community runs on: a ladder of warnings, timed mutes and blocks whose strikes may
-- decay, room moderators and slow mode, reports and appeals, live term lists, and one audit log
-- of all of it.

-- The audit log (the violations log until now): every moderation act, who did it and why.
-- New columns:
--   strike     1: the row is a strike on the user's ladder (a violation found by the word list,
--              the classifier or the webhook, or a report answered with "warn"); strikes older
--              than `--strike-decay` or than the user's `strikes_since` no longer count;
--   room_id    the room a room-scoped act concerns (a room mute, a moderator's deletion);
--   message_id the message concerned (a deletion, a report's decision);
--   until      a mute's end;
--   actor_id   the acting account (NULL for automatic moderation and the operator CLI).
-- user_id is NULL for acts that concern no account (a term-list change). The list of actions
-- moves out of the table into the domain (`chat::standing`), as the log's kinds did in V4:
-- SQLite cannot change a CHECK without rebuilding the table.
CREATE TABLE violations_v8 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER REFERENCES users (id),
    action     TEXT    NOT NULL,
    text       TEXT,
    term       TEXT,
    reason     TEXT,
    actor      TEXT    NOT NULL,
    timestamp  TEXT    NOT NULL,
    strike     INTEGER NOT NULL DEFAULT 0 CHECK (strike IN (0, 1)),
    room_id    INTEGER,
    message_id INTEGER,
    until      TEXT,
    actor_id   INTEGER REFERENCES users (id)
);
INSERT INTO violations_v8 (id, user_id, action, text, term, reason, actor, timestamp, strike)
    SELECT id, user_id, action, text, term, reason, actor, timestamp,
           CASE WHEN actor = 'moderation' AND action IN ('warning', 'block') THEN 1 ELSE 0 END
    FROM violations;
DROP TABLE violations;
ALTER TABLE violations_v8 RENAME TO violations;
CREATE INDEX violations_by_user ON violations (user_id, id);

-- A muted account reads everything and cannot post until `muted_until` (NULL: not muted).
-- Strikes before `strikes_since` no longer count (an admin's unblock starts the ladder afresh).
ALTER TABLE users ADD COLUMN muted_until TEXT;
ALTER TABLE users ADD COLUMN strikes_since TEXT;

-- A room's moderators (its creator always is one) delete its messages, mute its members in it,
-- remove members of a private room and set slow mode. `muted_until`: muted in this room only.
ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'moderator'));
ALTER TABLE members ADD COLUMN muted_until TEXT;

-- Slow mode: one message per this many seconds per member (moderators exempt); 0 is off.
ALTER TABLE rooms ADD COLUMN slow_mode_secs INTEGER NOT NULL DEFAULT 0 CHECK (slow_mode_secs >= 0);

-- Reports of messages: by a member (`reporter_id`), or raised by the classifier or the
-- moderation webhook (`source`, with its `score`). Handled once: `status` says how.
CREATE TABLE reports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    INTEGER NOT NULL REFERENCES messages (id),
    room_id       INTEGER NOT NULL,
    sender_id     INTEGER NOT NULL REFERENCES users (id),
    reporter_id   INTEGER REFERENCES users (id),
    source        TEXT    NOT NULL CHECK (source IN ('member', 'classifier', 'webhook')),
    reason        TEXT    NOT NULL,
    text          TEXT,
    score         REAL,
    status        TEXT    NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'dismissed', 'deleted', 'warned', 'muted', 'blocked')),
    note          TEXT,
    handled_by    TEXT,
    handled_by_id INTEGER REFERENCES users (id),
    handled_at    TEXT,
    created_at    TEXT    NOT NULL
);
-- A member reports a message once (NULL reporters, the automatic ones, are distinct).
CREATE UNIQUE INDEX reports_one_per_reporter ON reports (message_id, reporter_id);
CREATE INDEX reports_by_status ON reports (status, id);
CREATE INDEX reports_by_room ON reports (room_id, id);

-- A blocked user's appeal: one per block (its audit row), answered by an admin with unblock or
-- keep and a note the user sees at their next sign-in.
CREATE TABLE appeals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    block_id    INTEGER NOT NULL UNIQUE REFERENCES violations (id),
    text        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'unblocked', 'kept')),
    answer      TEXT,
    answered_by TEXT,
    answered_at TEXT,
    answer_seen INTEGER NOT NULL DEFAULT 0 CHECK (answer_seen IN (0, 1))
);
CREATE INDEX appeals_by_status ON appeals (status, id);
CREATE INDEX appeals_by_user ON appeals (user_id, id);

-- The live term lists: 'block' terms are refused like the built-in list's, 'allow' terms are
-- words the community accepts although the word list would catch them. Every change also takes
-- a log position (`changes` kind 'terms'), so every instance reloads its matcher in log order.
CREATE TABLE moderation_terms (
    term     TEXT PRIMARY KEY,
    list     TEXT NOT NULL CHECK (list IN ('block', 'allow')),
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL
);
