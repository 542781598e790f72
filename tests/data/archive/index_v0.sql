-- The archive index layout before it had a version (PRAGMA user_version 0), as written by
-- src/tunasync/archive/index.py (SCHEMA, at open) and src/tunasync/archive/scan.py (_LOG_TABLE and
-- _TRIGGERS, at the first scan) of this repository at commit 5cd0976.
-- Statements end with ';' at the end of a line.

CREATE TABLE IF NOT EXISTS files (
    path        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    inode       INTEGER NOT NULL,
    profile     TEXT,
    cid         TEXT,
    bundle_id   INTEGER,
    state       TEXT NOT NULL DEFAULT 'local',
    deleted     INTEGER NOT NULL DEFAULT 0,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    hashed_at   REAL,
    stored_at   REAL,
    evicted_at  REAL,
    last_access REAL,
    test_retrieval_at REAL
);
CREATE INDEX IF NOT EXISTS files_state ON files(state);
CREATE INDEX IF NOT EXISTS files_bundle ON files(bundle_id);
CREATE INDEX IF NOT EXISTS files_cid ON files(cid);
CREATE INDEX IF NOT EXISTS files_mtime ON files(mtime_ns);
CREATE TABLE IF NOT EXISTS bundles (
    id            INTEGER PRIMARY KEY,
    root_cid      TEXT,
    piece_cid     TEXT,
    piece_cid_v2  TEXT,
    padded_size   INTEGER,
    car_size      INTEGER,
    state         TEXT NOT NULL DEFAULT 'packing',
    created       REAL NOT NULL,
    test_retrieval_at REAL
);
CREATE INDEX IF NOT EXISTS bundles_piece ON bundles(piece_cid);
CREATE TABLE IF NOT EXISTS bundle_files (
    bundle_id INTEGER NOT NULL,
    path      TEXT NOT NULL,
    cid       TEXT NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    PRIMARY KEY (bundle_id, path)
);
CREATE TABLE IF NOT EXISTS copies (
    piece_cid  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    deal_id    INTEGER NOT NULL DEFAULT -1,
    active     INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    checked_at REAL NOT NULL,
    PRIMARY KEY (piece_cid, provider, deal_id)
);
CREATE TABLE IF NOT EXISTS foreign_copies (
    cid         TEXT PRIMARY KEY,
    providers   INTEGER NOT NULL,
    piece_cid   TEXT,
    verified_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id      INTEGER PRIMARY KEY,
    op      TEXT NOT NULL,
    path    TEXT,
    bundle_id INTEGER,
    step    TEXT NOT NULL,
    detail  TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);

-- the scan log (created by the first scan)
CREATE TABLE IF NOT EXISTS scan_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL);
CREATE TRIGGER scan_log_insert AFTER INSERT ON files BEGIN INSERT INTO scan_log (path) VALUES (NEW.path); END;
CREATE TRIGGER scan_log_delete AFTER DELETE ON files BEGIN INSERT INTO scan_log (path) VALUES (OLD.path); END;
CREATE TRIGGER scan_log_update AFTER UPDATE OF path, size, mtime_ns, inode, deleted ON files WHEN OLD.path IS NOT NEW.path OR OLD.size IS NOT NEW.size OR OLD.mtime_ns IS NOT NEW.mtime_ns OR OLD.inode IS NOT NEW.inode OR OLD.deleted IS NOT NEW.deleted BEGIN INSERT INTO scan_log (path) VALUES (OLD.path); INSERT INTO scan_log (path) SELECT NEW.path WHERE NEW.path IS NOT OLD.path; END;
