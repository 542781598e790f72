-- The archive index layout version 2 (PRAGMA user_version 2), as created by src/tunasync/archive/db/schema.py
-- of this repository at commit a0c1edf: every object of sqlite_master, tables before indexes and triggers.
-- Statements end with ";" at the end of a line.

CREATE TABLE files ( path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, profile TEXT, cid TEXT, bundle_id INTEGER, state TEXT NOT NULL DEFAULT 'local' CHECK (state IN ('local', 'hashed', 'storing', 'stored', 'evicted', 'cached')), deleted INTEGER NOT NULL DEFAULT 0, first_seen REAL NOT NULL, last_seen REAL NOT NULL, hashed_at REAL, stored_at REAL, evicted_at REAL, last_access REAL, test_retrieval_at REAL );
CREATE TABLE bundles ( id INTEGER PRIMARY KEY, root_cid TEXT, piece_cid TEXT, piece_cid_v2 TEXT, padded_size INTEGER, car_size INTEGER, state TEXT NOT NULL DEFAULT 'packing' CHECK (state IN ('packing', 'staged', 'offered', 'stored', 'degraded')), created REAL NOT NULL, test_retrieval_at REAL );
CREATE TABLE bundle_files ( bundle_id INTEGER NOT NULL, path TEXT NOT NULL, cid TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, PRIMARY KEY (bundle_id, path) );
CREATE TABLE copies ( piece_cid TEXT NOT NULL, provider TEXT NOT NULL, deal_id INTEGER NOT NULL DEFAULT -1, active INTEGER NOT NULL, epoch INTEGER NOT NULL, checked_at REAL NOT NULL, PRIMARY KEY (piece_cid, provider, deal_id) );
CREATE TABLE foreign_copies ( cid TEXT PRIMARY KEY, providers INTEGER NOT NULL, piece_cid TEXT, verified_at REAL NOT NULL );
CREATE TABLE journal ( id INTEGER PRIMARY KEY, op TEXT NOT NULL, path TEXT, bundle_id INTEGER, step TEXT NOT NULL, detail TEXT, created REAL NOT NULL );
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE scan_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL);
CREATE INDEX files_due ON files(state, deleted, mtime_ns, size, bundle_id);
CREATE INDEX files_bundle_path ON files(bundle_id, path);
CREATE INDEX files_cid ON files(cid);
CREATE INDEX bundles_piece ON bundles(piece_cid);
CREATE TRIGGER scan_log_insert AFTER INSERT ON files BEGIN INSERT INTO scan_log (path) VALUES (NEW.path); END;
CREATE TRIGGER scan_log_delete AFTER DELETE ON files BEGIN INSERT INTO scan_log (path) VALUES (OLD.path); END;
CREATE TRIGGER scan_log_update AFTER UPDATE OF path, size, mtime_ns, inode, deleted ON files WHEN OLD.path IS NOT NEW.path OR OLD.size IS NOT NEW.size OR OLD.mtime_ns IS NOT NEW.mtime_ns OR OLD.inode IS NOT NEW.inode OR OLD.deleted IS NOT NEW.deleted BEGIN INSERT INTO scan_log (path) VALUES (OLD.path); INSERT INTO scan_log (path) SELECT NEW.path WHERE NEW.path IS NOT OLD.path; END;
PRAGMA user_version = 2;
