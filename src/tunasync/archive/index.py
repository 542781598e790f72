"""The per-mirror archive index: one SQLite file (WAL) at `<index_dir>/<mirror>/index.sqlite`.

It records, for every file the mirror ever held: path (mirror-relative, `/`-separated), size, mtime_ns,
inode, profile, CID, bundle, state and timestamps. Files upstream deleted are marked, never forgotten:
their copies stay known. Bundles are the CAR pieces; `copies` caches the last chain check per provider.
Methods are synchronous; async callers run them in a thread (one connection per thread).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from .states import FileState, check_transition

SCHEMA = """
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
"""


@dataclass
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    inode: int
    profile: str | None
    cid: str | None
    bundle_id: int | None
    state: FileState
    deleted: bool
    first_seen: float
    last_seen: float
    hashed_at: float | None = None
    stored_at: float | None = None
    evicted_at: float | None = None
    last_access: float | None = None
    test_retrieval_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FileRecord:
        d = dict(row)
        d["state"] = FileState(d["state"])
        d["deleted"] = bool(d["deleted"])
        return cls(**d)


@dataclass
class Bundle:
    id: int
    root_cid: str | None
    piece_cid: str | None
    piece_cid_v2: str | None
    padded_size: int | None
    car_size: int | None
    state: str
    created: float
    test_retrieval_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Bundle:
        return cls(**dict(row))


class ArchiveIndex:
    """One mirror's index. Thread-safe: each thread gets its own connection."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    # -- connections and transactions ----------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a state change the archive acted on (a delete!) must survive power loss too.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    class _Tx:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type, exc, tb) -> None:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def tx(self) -> _Tx:
        return self._Tx(self._conn())

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- files ---------------------------------------------------------------------------------
    def get(self, path: str) -> FileRecord | None:
        row = self._conn().execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return FileRecord.from_row(row) if row else None

    def files(self, state: FileState | None = None, include_deleted: bool = False) -> Iterator[FileRecord]:
        q = "SELECT * FROM files"
        cond, args = [], []
        if state is not None:
            cond.append("state = ?")
            args.append(state.value)
        if not include_deleted:
            cond.append("deleted = 0")
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY path"
        for row in self._conn().execute(q, args):
            yield FileRecord.from_row(row)

    def stat_map(self) -> dict[str, tuple[int, int, int, str, int]]:
        """path -> (size, mtime_ns, inode, state, deleted) for the scanner's comparison."""
        return {
            r[0]: (r[1], r[2], r[3], r[4], r[5])
            for r in self._conn().execute("SELECT path, size, mtime_ns, inode, state, deleted FROM files")
        }

    def upsert_seen(self, rows: Iterable[tuple[str, int, int, int]], now: float | None = None) -> int:
        """Record files found on disk whose (size, mtime_ns, inode) are new or changed: they go back to
        `local` with no CID (re-hash next). Returns the number of rows written."""
        now = now or time.time()
        n = 0
        with self.tx() as db:
            for path, size, mtime_ns, inode in rows:
                db.execute(
                    """INSERT INTO files (path, size, mtime_ns, inode, state, first_seen, last_seen)
                       VALUES (?, ?, ?, ?, 'local', ?, ?)
                       ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                         inode = excluded.inode, state = 'local', cid = NULL, profile = NULL, bundle_id = NULL,
                         deleted = 0, hashed_at = NULL, stored_at = NULL, evicted_at = NULL,
                         test_retrieval_at = NULL, last_seen = excluded.last_seen""",
                    (path, size, mtime_ns, inode, now, now),
                )
                n += 1
        return n

    def mark_deleted(self, paths: Iterable[str]) -> int:
        """Upstream removed these files (they left the disk without us evicting them)."""
        n = 0
        with self.tx() as db:
            for p in paths:
                n += db.execute("UPDATE files SET deleted = 1 WHERE path = ? AND deleted = 0", (p,)).rowcount
        return n

    def set_hashed(self, path: str, expect: tuple[int, int, int], profile: str, cid: str) -> bool:
        """Record a CID only if the row still describes the bytes that were hashed."""
        size, mtime_ns, inode = expect
        with self.tx() as db:
            cur = db.execute(
                """UPDATE files SET cid = ?, profile = ?, state = 'hashed', hashed_at = ?
                   WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ? AND state = 'local'""",
                (cid, profile, time.time(), path, size, mtime_ns, inode),
            )
            return cur.rowcount == 1

    def set_hashed_many(self, rows: Iterable[tuple[str, tuple[int, int, int], str]], profile: str) -> list[str]:
        """`set_hashed` for many (path, expect, cid) in one transaction; returns the paths refused."""
        refused = []
        now = time.time()
        with self.tx() as db:
            for path, (size, mtime_ns, inode), cid in rows:
                cur = db.execute(
                    """UPDATE files SET cid = ?, profile = ?, state = 'hashed', hashed_at = ?
                       WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ? AND state = 'local'""",
                    (cid, profile, now, path, size, mtime_ns, inode),
                )
                if cur.rowcount != 1:
                    refused.append(path)
        return refused

    def set_state(self, path: str, new: FileState, **fields: object) -> None:
        with self.tx() as db:
            row = db.execute("SELECT state FROM files WHERE path = ?", (path,)).fetchone()
            if row is None:
                raise KeyError(path)
            check_transition(FileState(row[0]), new)
            sets = ["state = ?"] + [f"{k} = ?" for k in fields]
            db.execute(f"UPDATE files SET {', '.join(sets)} WHERE path = ?", (new.value, *fields.values(), path))

    def touch(self, path: str, when: float | None = None) -> None:
        self._conn().execute("UPDATE files SET last_access = ? WHERE path = ?", (when or time.time(), path))

    def mark_cached(self, path: str, inode: int, when: float | None = None) -> bool:
        """A retrieved, verified copy of an evicted file is now on disk (mtime restored, new inode).

        The new inode is recorded so the next scan sees the file unchanged; False when the row is no
        longer `evicted` (upstream changed it meanwhile: the retrieved copy must not be kept)."""
        now = when or time.time()
        with self.tx() as db:
            cur = db.execute("UPDATE files SET state = 'cached', inode = ?, last_access = ? "
                             "WHERE path = ? AND state = 'evicted'", (inode, now, path))
            return cur.rowcount == 1

    def cached_lru(self) -> list[FileRecord]:
        """Cached files, least recently used first (what a cache budget returns to `evicted`)."""
        rows = self._conn().execute(
            "SELECT * FROM files WHERE state = 'cached' AND deleted = 0 "
            "ORDER BY COALESCE(last_access, 0), path")
        return [FileRecord.from_row(r) for r in rows]

    def cid_holders(self, cid: str) -> list[FileRecord]:
        """Every indexed file with this CID (the same bytes under several paths)."""
        return [FileRecord.from_row(r) for r in
                self._conn().execute("SELECT * FROM files WHERE cid = ? ORDER BY path", (cid,))]

    def counts(self) -> dict[str, tuple[int, int]]:
        """state -> (files, bytes), deleted files excluded."""
        out = {s.value: (0, 0) for s in FileState}
        for state, n, b in self._conn().execute(
            "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE deleted = 0 GROUP BY state"
        ):
            out[state] = (n, b)
        return out

    # -- bundles -------------------------------------------------------------------------------
    def new_bundle(self, members: list[tuple[str, str, int, int]]) -> int:
        """Create a bundle of (path, cid, size, mtime_ns) and move its files to `storing`."""
        with self.tx() as db:
            bid = db.execute("INSERT INTO bundles (state, created) VALUES ('packing', ?)", (time.time(),)).lastrowid
            for path, cid, size, mtime_ns in members:
                db.execute(
                    "INSERT INTO bundle_files (bundle_id, path, cid, size, mtime_ns) VALUES (?, ?, ?, ?, ?)",
                    (bid, path, cid, size, mtime_ns),
                )
                db.execute(
                    "UPDATE files SET bundle_id = ?, state = 'storing' WHERE path = ? AND cid = ?", (bid, path, cid)
                )
            return int(bid or 0)

    def bundle(self, bid: int) -> Bundle | None:
        row = self._conn().execute("SELECT * FROM bundles WHERE id = ?", (bid,)).fetchone()
        return Bundle.from_row(row) if row else None

    def bundles(self, state: str | None = None) -> list[Bundle]:
        q, args = "SELECT * FROM bundles", cast(tuple[str, ...], ())
        if state:
            q, args = q + " WHERE state = ?", (state,)
        return [Bundle.from_row(r) for r in self._conn().execute(q + " ORDER BY id", args)]

    def bundle_by_piece(self, piece_cid: str) -> Bundle | None:
        row = self._conn().execute("SELECT * FROM bundles WHERE piece_cid = ? ORDER BY id LIMIT 1",
                                   (piece_cid,)).fetchone()
        return Bundle.from_row(row) if row else None

    def bundle_members(self, bid: int) -> list[tuple[str, str, int, int]]:
        return [
            tuple(r)
            for r in self._conn().execute(
                "SELECT path, cid, size, mtime_ns FROM bundle_files WHERE bundle_id = ? ORDER BY path", (bid,)
            )
        ]

    def attach_to_known_bundles(self) -> tuple[int, int]:
        """Hashed files whose CID is already in one of our bundles join it instead of being packed again
        (the same bytes under another path, or a file that came back). Returns (stored, storing)."""
        with self.tx() as db:
            db.execute("""UPDATE files SET bundle_id = (
                    SELECT bf.bundle_id FROM bundle_files bf JOIN bundles b ON b.id = bf.bundle_id
                    WHERE bf.cid = files.cid AND b.state != 'packing'
                    ORDER BY (b.state = 'stored') DESC, bf.bundle_id LIMIT 1)
                WHERE state = 'hashed' AND bundle_id IS NULL AND deleted = 0 AND cid IN (
                    SELECT bf.cid FROM bundle_files bf JOIN bundles b ON b.id = bf.bundle_id
                    WHERE b.state != 'packing')""")
            now = time.time()
            stored = db.execute("""UPDATE files SET state = 'stored', stored_at = ? WHERE state = 'hashed'
                AND bundle_id IN (SELECT id FROM bundles WHERE state = 'stored')""", (now,)).rowcount
            storing = db.execute("""UPDATE files SET state = 'storing' WHERE state = 'hashed'
                AND bundle_id IS NOT NULL""").rowcount
        return stored, storing

    def set_bundle_stored(self, bid: int) -> int:
        """The bundle's piece has its copies: it and its `storing` files become `stored`."""
        with self.tx() as db:
            db.execute("UPDATE bundles SET state = 'stored' WHERE id = ?", (bid,))
            return db.execute("UPDATE files SET state = 'stored', stored_at = ? "
                              "WHERE bundle_id = ? AND state = 'storing'", (time.time(), bid)).rowcount

    def update_bundle(self, bid: int, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE bundles SET {sets} WHERE id = ?", (*fields.values(), bid))

    # -- copies --------------------------------------------------------------------------------
    def record_copies(self, piece_cid: str, epoch: int, providers: Iterable[tuple[str, int, bool]]) -> None:
        """Replace the cached chain view of a piece: (provider, deal_id, active)."""
        now = time.time()
        with self.tx() as db:
            db.execute("DELETE FROM copies WHERE piece_cid = ?", (piece_cid,))
            for provider, deal_id, active in providers:
                db.execute(
                    "INSERT OR REPLACE INTO copies VALUES (?, ?, ?, ?, ?, ?)",
                    (piece_cid, provider, deal_id, int(active), epoch, now),
                )

    def verified_copies(self, piece_cid: str) -> int:
        row = self._conn().execute(
            "SELECT COUNT(DISTINCT provider) FROM copies WHERE piece_cid = ? AND active = 1", (piece_cid,)
        ).fetchone()
        return int(row[0])

    def copy_providers(self, piece_cid: str) -> list[str]:
        """Providers the last chain check found holding a live copy of the piece."""
        return [r[0] for r in self._conn().execute(
            "SELECT DISTINCT provider FROM copies WHERE piece_cid = ? AND active = 1 ORDER BY provider",
            (piece_cid,))]

    def copies_histogram(self) -> dict[int, int]:
        """verified copies -> number of pieces with that many."""
        hist: dict[int, int] = {}
        for (n,) in self._conn().execute(
            """SELECT (SELECT COUNT(DISTINCT provider) FROM copies c WHERE c.piece_cid = b.piece_cid AND c.active = 1)
               FROM bundles b WHERE b.piece_cid IS NOT NULL"""
        ):
            hist[int(n)] = hist.get(int(n), 0) + 1
        return hist

    def set_foreign(self, cid: str, providers: int, piece_cid: str | None, stored: bool) -> int:
        """Record the verified foreign copies of a CID; with `stored`, its hashed files need no upload."""
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO foreign_copies VALUES (?, ?, ?, ?)", (cid, providers, piece_cid, now))
            if not stored:
                return 0
            return db.execute("UPDATE files SET state = 'stored', stored_at = ? WHERE cid = ? AND state = 'hashed' "
                              "AND bundle_id IS NULL", (now, cid)).rowcount

    def foreign(self, cid: str) -> tuple[int, str | None, float] | None:
        row = self._conn().execute("SELECT providers, piece_cid, verified_at FROM foreign_copies WHERE cid = ?",
                                   (cid,)).fetchone()
        return (int(row[0]), row[1], float(row[2])) if row else None

    def evicted_paths(self) -> list[str]:
        """Files off disk that upstream still has: what rsync must not fetch again."""
        return [r[0] for r in self._conn().execute(
            "SELECT path FROM files WHERE state = 'evicted' AND deleted = 0 ORDER BY path")]

    def evicted_stats(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of the evicted files upstream still had when last asked."""
        return {r[0]: (r[1], r[2]) for r in self._conn().execute(
            "SELECT path, size, mtime_ns FROM files WHERE state = 'evicted' AND deleted = 0 ORDER BY path")}

    def eviction_candidates(self, mtime_before_ns: int, limit: int | None = None) -> list[FileRecord]:
        """Stored files older than the cutoff, oldest first. Cached files (retrieved back) are not here:
        the cache budget decides when they go (archive/cache.py), least recently used first."""
        q = ("SELECT * FROM files WHERE state = 'stored' AND deleted = 0 AND mtime_ns < ? "
             "ORDER BY mtime_ns, path")
        args: tuple[object, ...] = (mtime_before_ns,)
        if limit is not None:
            q, args = q + " LIMIT ?", (mtime_before_ns, limit)
        return [FileRecord.from_row(r) for r in self._conn().execute(q, args)]

    def set_test_retrieval(self, path: str, when: float | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE files SET test_retrieval_at = ? WHERE path = ?", (when or time.time(), path))

    # -- journal -------------------------------------------------------------------------------
    def journal_begin(self, op: str, step: str, path: str | None = None, bundle_id: int | None = None,
                      detail: str | None = None) -> int:
        with self.tx() as db:
            return int(
                db.execute(
                    "INSERT INTO journal (op, path, bundle_id, step, detail, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (op, path, bundle_id, step, detail, time.time()),
                ).lastrowid or 0
            )

    def journal_step(self, jid: int, step: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE journal SET step = ? WHERE id = ?", (step, jid))

    def journal_end(self, jid: int) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM journal WHERE id = ?", (jid,))

    def journal_open(self) -> list[sqlite3.Row]:
        return list(self._conn().execute("SELECT * FROM journal ORDER BY id"))

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
