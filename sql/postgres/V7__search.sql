-- Message search: trigram indexes (pg_trgm) let `content ILIKE '%word%'` find any part of a
-- word without reading every message. pg_trgm is a trusted extension (PostgreSQL 13 and later),
-- so the database's owner may create it. The GIN index follows edits and deletions (the
-- tombstone's content is '') as any index does.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_by_trigram ON messages USING gin (content gin_trgm_ops);
