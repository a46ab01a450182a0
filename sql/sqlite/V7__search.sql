-- Message search: a full-text index over the messages' current text. FTS5 with the trigram
-- tokenizer matches any part of a word ("deploy" finds "deployment"), case-insensitively; it is
-- an external-content table (the text lives once, in `messages`), kept in step by the triggers
-- below: an edit replaces the indexed text, and a deletion (the tombstone's content is '')
-- leaves nothing to match. Terms shorter than a trigram are matched with LIKE instead.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

-- The messages written before this version.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
