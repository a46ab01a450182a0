-- Login and registration limits, shared by every process on this database: the token buckets
-- per client address and per requested name, and the login guard's failures per account and
-- address (see src/chat/ratelimit.rs). Times are wall-clock Unix seconds.
--
-- A row whose `expires_at` has passed carries no information (its bucket is full again and its
-- failure mark has lapsed): it reads as missing, and the daemon deletes such rows now and then,
-- so the table holds only the limits in use.

CREATE TABLE limits (
    key         TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    -- When `tokens` was counted; the bucket refills from then on.
    refilled_at REAL NOT NULL,
    -- The last failed login of an account and address pair, while it still counts.
    marked_at   REAL,
    expires_at  REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX limits_by_expiry ON limits (expires_at);
