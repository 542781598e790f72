"""The index's tables, its schema version (`PRAGMA user_version`) and the forward migrations.

Version 0 is the layout written before the index had a version: the tables below without the CHECK
constraints, and the scan log (table and triggers) created by the first scan rather than at open.
Version 1 creates the scan log with the index and constrains `state` columns to the known states.
Version 2 indexes the eviction rule's query: `files_due` (state, deleted, mtime_ns, size, bundle_id)
answers `evictable_now` and the next evictions from the index alone, `files_bundle_path` pages a
bundle's files by path; they replace `files_state`, `files_bundle` and `files_mtime` (their prefixes,
or no longer asked).
Version 3 keeps running totals: `file_totals` holds, per (state, deleted, non-empty, day of mtime),
the files and bytes of `files`, kept exact by triggers, so `archive status`, the manager's figures and
`evictable_now` sum a few thousand counter rows instead of scanning a million (see `TOTALS_TRIGGERS`).

A migration runs in one transaction at open, before anything else touches the file; an index newer
than this code is refused (its rows may mean things this code does not know).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from ...errors import ArchiveError
from .states import BundleState, FileState


def _in(values: type[FileState] | type[BundleState]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


VERSION = 3

FILES_TABLE = f"""
CREATE TABLE IF NOT EXISTS files (
    path        TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    inode       INTEGER NOT NULL,
    profile     TEXT,
    cid         TEXT,
    bundle_id   INTEGER,
    state       TEXT NOT NULL DEFAULT 'local' CHECK (state IN ({_in(FileState)})),
    deleted     INTEGER NOT NULL DEFAULT 0,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    hashed_at   REAL,
    stored_at   REAL,
    evicted_at  REAL,
    last_access REAL,
    test_retrieval_at REAL
)"""

FILES_INDEXES = """
CREATE INDEX IF NOT EXISTS files_due ON files(state, deleted, mtime_ns, size, bundle_id);
CREATE INDEX IF NOT EXISTS files_bundle_path ON files(bundle_id, path);
CREATE INDEX IF NOT EXISTS files_cid ON files(cid);
"""
V1_FILES_INDEXES = ("files_state", "files_bundle", "files_cid", "files_mtime")

# The secondary indexes of `files`, which a bulk load (a first index) drops and builds once at its end,
# each in one sorted pass: CIDs and mtimes come in random order, so each insert touches a random page,
# which at a million rows no longer stays in the page cache and made a first index superlinear; the
# others cost a b-tree insert per row for nothing the load reads. An index file opened without them
# (a bulk load killed halfway) gets them back at open (`migrate`).
BULK_DEFERRED = {m.group(1): m.group(0) for m in re.finditer(r"CREATE INDEX IF NOT EXISTS (\w+) ON files\([^)]*\)",
                                                               FILES_INDEXES)}

BUNDLES_TABLE = f"""
CREATE TABLE IF NOT EXISTS bundles (
    id            INTEGER PRIMARY KEY,
    root_cid      TEXT,
    piece_cid     TEXT,
    piece_cid_v2  TEXT,
    padded_size   INTEGER,
    car_size      INTEGER,
    state         TEXT NOT NULL DEFAULT 'packing' CHECK (state IN ({_in(BundleState)})),
    created       REAL NOT NULL,
    test_retrieval_at REAL
)"""

OTHER_TABLES = """
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
"""

# The scan log: triggers on `files` append the paths whose scan-relevant columns changed, so a rescan
# looks only at those and at what its listing diff finds (archive/scan.py). What a verdict reads: the
# row's presence, (size, mtime_ns, inode) and `deleted`. `state` is only read as "evicted" for files
# off disk, and a row leaves `evicted` only when its file is back on disk: the listing diff sees that,
# so state changes (every hash, pack and store) cost no trigger.
SCAN_LOG_TABLE = "CREATE TABLE IF NOT EXISTS scan_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL)"
SCAN_LOG_TRIGGERS = {
    "scan_log_insert": "CREATE TRIGGER scan_log_insert AFTER INSERT ON files "
                       "BEGIN INSERT INTO scan_log (path) VALUES (NEW.path); END",
    "scan_log_delete": "CREATE TRIGGER scan_log_delete AFTER DELETE ON files "
                       "BEGIN INSERT INTO scan_log (path) VALUES (OLD.path); END",
    "scan_log_update": "CREATE TRIGGER scan_log_update AFTER UPDATE OF path, size, mtime_ns, inode, deleted ON files "
                       "WHEN OLD.path IS NOT NEW.path OR OLD.size IS NOT NEW.size OR OLD.mtime_ns IS NOT NEW.mtime_ns "
                       "OR OLD.inode IS NOT NEW.inode OR OLD.deleted IS NOT NEW.deleted "
                       "BEGIN INSERT INTO scan_log (path) VALUES (OLD.path); "
                       "INSERT INTO scan_log (path) SELECT NEW.path WHERE NEW.path IS NOT OLD.path; END",
}
# Running totals of `files` (version 3). One row per (state, deleted, nonempty, day): `day` is the mtime's
# whole days since the epoch (SQLite's integer division, so it truncates toward zero), `nonempty` is
# size > 0 (empty files never leave the disk). The triggers keep each row exact under every write to
# `files`: an insert adds, a delete subtracts, an update that moves a row to another key or changes its
# size does both. Rows that reach zero stay (their number is bounded by the days seen). A bulk load
# (a first index) drops the triggers for its duration and counts once at its end (`count_totals`);
# without all three triggers the totals are not trusted and readers count the rows (`totals_ready`).
DAY_NS = 86_400 * 10**9
TOTALS_TABLE = ("CREATE TABLE IF NOT EXISTS file_totals (state TEXT NOT NULL, deleted INTEGER NOT NULL, "
                "nonempty INTEGER NOT NULL, day INTEGER NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL, "
                "PRIMARY KEY (state, deleted, nonempty, day)) WITHOUT ROWID")
_ADD = ("INSERT INTO file_totals (state, deleted, nonempty, day, files, bytes) "
        f"VALUES (NEW.state, NEW.deleted, NEW.size > 0, NEW.mtime_ns / {DAY_NS}, 1, NEW.size) "
        "ON CONFLICT (state, deleted, nonempty, day) DO UPDATE SET files = files + 1, bytes = bytes + excluded.bytes;")
_SUB = ("UPDATE file_totals SET files = files - 1, bytes = bytes - OLD.size WHERE state = OLD.state "
        f"AND deleted = OLD.deleted AND nonempty = (OLD.size > 0) AND day = OLD.mtime_ns / {DAY_NS};")
TOTALS_TRIGGERS = {
    "file_totals_insert": f"CREATE TRIGGER file_totals_insert AFTER INSERT ON files BEGIN {_ADD} END",
    "file_totals_delete": f"CREATE TRIGGER file_totals_delete AFTER DELETE ON files BEGIN {_SUB} END",
    "file_totals_update": "CREATE TRIGGER file_totals_update AFTER UPDATE OF state, deleted, size, mtime_ns ON files "
                          "WHEN OLD.state IS NOT NEW.state OR OLD.deleted IS NOT NEW.deleted OR OLD.size IS NOT NEW.size "
                          f"OR OLD.mtime_ns / {DAY_NS} IS NOT NEW.mtime_ns / {DAY_NS} BEGIN {_SUB} {_ADD} END",
}
TOTALS_COUNT = ("INSERT INTO file_totals (state, deleted, nonempty, day, files, bytes) "
                f"SELECT state, deleted, size > 0, mtime_ns / {DAY_NS}, COUNT(*), COALESCE(SUM(size), 0) FROM files "
                "GROUP BY 1, 2, 3, 4")

SNAPSHOT_TOKEN_KEY = "archive.scan.snapshot"  # meta: the token a scan snapshot must carry to be used


def scan_log_ready(conn: sqlite3.Connection) -> bool:
    """True when the log exists with exactly our triggers (so it saw every row change since it began)."""
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'scan_log%'").fetchall()
    triggers = {name: sql for kind, name, sql in rows if kind == "trigger"}
    return triggers == SCAN_LOG_TRIGGERS and ("table", "scan_log") in {(kind, name) for kind, name, _ in rows}


def create_scan_log(conn: sqlite3.Connection) -> None:
    """(Re)create the log and its triggers; whatever snapshot exists stops being trusted, since the
    changes made while there was no log are not in it."""
    conn.execute(SCAN_LOG_TABLE)
    for name, sql in SCAN_LOG_TRIGGERS.items():
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute(sql)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                 (SNAPSHOT_TOKEN_KEY, "invalidated-by-scan-log-creation"))


def totals_ready(conn: sqlite3.Connection) -> bool:
    """True when `file_totals` exists with exactly our triggers (then it is exact, see TOTALS_TRIGGERS)."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'file_totals%'")
    return dict(rows.fetchall()) == TOTALS_TRIGGERS


def pause_totals(conn: sqlite3.Connection) -> None:
    """A bulk load begins: no per-row trigger; readers count rows until `count_totals`."""
    for name in TOTALS_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")


def count_totals(conn: sqlite3.Connection) -> None:
    """(Re)count the totals from the rows in one pass and (re)create their triggers."""
    conn.execute(TOTALS_TABLE)
    pause_totals(conn)
    conn.execute("DELETE FROM file_totals")
    conn.execute(TOTALS_COUNT)
    for sql in TOTALS_TRIGGERS.values():
        conn.execute(sql)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(FILES_TABLE)
    _script(conn, FILES_INDEXES)
    conn.execute(BUNDLES_TABLE)
    _script(conn, OTHER_TABLES)
    create_scan_log(conn)
    count_totals(conn)


def _script(conn: sqlite3.Connection, script: str) -> None:
    for stmt in script.split(";"):
        if stmt.strip():
            conn.execute(stmt)


def _rebuild(conn: sqlite3.Connection, table: str, ddl: str) -> None:
    """Give `table` a new definition keeping its rows (SQLite cannot add a CHECK in place)."""
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    conn.execute(f"ALTER TABLE {table} RENAME TO {table}_v0")
    conn.execute(ddl)
    names = ", ".join(cols)
    conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {table}_v0")
    conn.execute(f"DROP TABLE {table}_v0")


def _from_0(conn: sqlite3.Connection) -> None:
    """The unversioned layout: add the state CHECKs, create the scan log at open."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "files" not in tables:  # a new file
        _create(conn)
        return
    _script(conn, OTHER_TABLES)  # any table an early index lacked
    had_log = scan_log_ready(conn)
    for name in SCAN_LOG_TRIGGERS:  # the rebuild renames `files`: triggers would follow the old table
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    for idx in V1_FILES_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {idx}")
    _rebuild(conn, "files", FILES_TABLE)
    _script(conn, FILES_INDEXES)
    _rebuild(conn, "bundles", BUNDLES_TABLE)
    conn.execute("CREATE INDEX IF NOT EXISTS bundles_piece ON bundles(piece_cid)")
    conn.execute(SCAN_LOG_TABLE)
    for sql in SCAN_LOG_TRIGGERS.values():
        conn.execute(sql)
    if not had_log:  # the snapshot (if any) was written with no log watching: not to be trusted
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (SNAPSHOT_TOKEN_KEY, "invalidated-by-migration"))


def _from_1(conn: sqlite3.Connection) -> None:
    """The eviction rule's indexes in place of the v1 ones they make redundant."""
    for idx in ("files_state", "files_bundle", "files_mtime"):
        conn.execute(f"DROP INDEX IF EXISTS {idx}")
    _script(conn, FILES_INDEXES)


def _from_2(conn: sqlite3.Connection) -> None:
    """The running totals, counted from the rows."""
    count_totals(conn)


# MIGRATIONS[v] brings a version-v index to v + 1.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _from_0, 1: _from_1, 2: _from_2}


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the open index to VERSION (one transaction); returns the version it had."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > VERSION:
            raise ArchiveError(f"{path}: archive index version {found} is newer than this tunasync "
                               f"understands ({VERSION}); upgrade tunasync")
        for v in range(found, VERSION):
            MIGRATIONS[v](conn)
        if found != VERSION:
            conn.execute(f"PRAGMA user_version = {VERSION}")
        for sql in BULK_DEFERRED.values():  # back after a bulk load that did not finish
            conn.execute(sql)
        if not totals_ready(conn):  # likewise
            count_totals(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found
