-- PostgreSQL's form of sql/sqlite/V5__shared_limits.sql: login and registration limits, shared
-- by every instance on this database. Times are wall-clock Unix seconds.
--
-- A row whose `expires_at` has passed carries no information (its bucket is full again and its
-- failure mark has lapsed): it reads as missing, and the daemons delete such rows now and then.
--
-- UNLOGGED: every login attempt writes here, and what is kept is worth a few minutes at most;
-- after a crash of the database server (not a clean restart) the table starts empty, which
-- gives every client a fresh budget once.

CREATE UNLOGGED TABLE limits (
    key         TEXT COLLATE "C" PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    -- When `tokens` was counted; the bucket refills from then on.
    refilled_at DOUBLE PRECISION NOT NULL,
    -- The last failed login of an account and address pair, while it still counts.
    marked_at   DOUBLE PRECISION,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX limits_by_expiry ON limits (expires_at);
