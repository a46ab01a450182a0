-- Several daemons on one database: account changes take log positions, and each instance says
-- who is online on it.

-- The log also carries account changes ('account': user_id's block or role changed; `value`
-- holds the new flags, 1 = blocked, 2 = admin; room_id 0), so every instance closes the
-- account's sockets in log order. The list of kinds lives in the store's `Change` mapping
-- (src/store/shared.rs), as in SQLite, which cannot change a CHECK without a rebuild.
ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_kind_check;

-- A running `chatterbox serve`, with its last heartbeat in unix seconds by the database's clock
-- (the one clock every instance shares). An instance that stops beating is dead: the others
-- delete it and its presence.
CREATE TABLE instances (
    id         TEXT   COLLATE "C" PRIMARY KEY,
    started_at TEXT   COLLATE "C" NOT NULL,
    seen_at    BIGINT NOT NULL
);

-- Who is online on which instance, with how many sockets (the per-account socket cap counts
-- them on every instance; 0 while a user who just left is within the presence grace).
CREATE TABLE presence (
    instance TEXT   COLLATE "C" NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sockets  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (instance, user_id)
);
