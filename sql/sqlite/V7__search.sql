-- Message search: a full-text index over the messages' current text. FTS5 with the trigram
-- tokenizer matches any part of a word ("deploy" finds "deployment"), case-insensitively; it is
-- an external-content table (the text lives once, in `messages`). New messages are indexed by
-- the daemon's writer when it is idle (`Store::index_search`), up to `search_state.indexed_upto`:
-- a trigram index costs as much as the rest of storing a message, and the chat must not wait
-- for it; a search reads the messages after that mark directly. Below the mark the triggers keep
-- the index in step: an edit replaces the indexed text, and a deletion (the tombstone's content
-- is '') leaves nothing to match. Terms shorter than a trigram are matched with LIKE instead.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TABLE search_state (indexed_upto INTEGER NOT NULL);

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.id <= (SELECT indexed_upto FROM search_state) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_upto FROM search_state) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

-- The messages written before this version.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
INSERT INTO search_state (indexed_upto) SELECT COALESCE(MAX(id), 0) FROM messages;
