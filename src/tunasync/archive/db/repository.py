"""Typed repositories over one connection: every SQL statement the index runs is in this module or
in schema.py. A `Repos` is handed to work running on the index's database thread (see engine.py);
callers outside archive/db never see a connection.

Every state change, of a file or of a bundle, goes through `transition`, which refuses the moves
states.py does not list; the one exception in form is the scanner's upsert (one statement
for a million rows), whose move, any state back to `local`, is checked against the same table.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import overload

from .rows import (
    Bundle,
    BundleMember,
    DueFile,
    DueQuery,
    DueRow,
    FileRecord,
    ForeignCopies,
    JournalEntry,
    PathStat,
    Pending,
    ScanLogState,
    StateTotal,
    StatRow,
)
from .schema import (
    BULK_DEFERRED,
    DAY_NS,
    SCAN_LOG_TRIGGERS,
    SNAPSHOT_TOKEN_KEY,
    count_totals,
    create_scan_log,
    pause_totals,
    scan_log_ready,
    totals_ready,
)
from .states import (
    BundleState,
    FileState,
    IllegalTransition,
    check_bundle_transition,
    check_transition,
)

_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")  # what may go into SQL as a literal
FILE_FIELDS = frozenset({"size", "mtime_ns", "inode", "profile", "cid", "bundle_id", "deleted", "first_seen",
                         "last_seen", "hashed_at", "stored_at", "evicted_at", "last_access", "test_retrieval_at"})
BUNDLE_FIELDS = frozenset({"root_cid", "piece_cid", "piece_cid_v2", "padded_size", "car_size",
                           "test_retrieval_at"})


def _sets(fields: Mapping[str, object], allowed: frozenset[str]) -> tuple[str, tuple[object, ...]]:
    bad = sorted(set(fields) - allowed)
    if bad:
        raise ValueError(f"not a column that may be set here: {', '.join(bad)}")
    return "".join(f", {k} = ?" for k in fields), tuple(fields.values())


@functools.lru_cache(maxsize=64)
def _check_moves(olds: tuple[FileState, ...], new: FileState) -> None:
    """IllegalTransition unless every state of `olds` may move to `new` (checked once per shape)."""
    for old in olds:
        check_transition(old, new)


@functools.lru_cache(maxsize=256)
def _transition_sql(new: FileState, olds: tuple[FileState, ...], by_path: bool, where: str,
                    fields: tuple[str, ...]) -> str:
    """The UPDATE for a checked move (built once per shape: bulk callers run it row after row)."""
    _check_moves(olds, new)
    bad = sorted(set(fields) - FILE_FIELDS)
    if bad:
        raise ValueError(f"not a column that may be set here: {', '.join(bad)}")
    sets = "".join(f", {k} = ?" for k in fields)
    cond = [f"state IN ({', '.join(repr(s.value) for s in olds)})"]
    if by_path:
        cond.append("path = ?")
    if where:
        cond.append(f"({where})")
    return f"UPDATE files SET state = {new.value!r}{sets} WHERE {' AND '.join(cond)}"


@overload
def transition(c: sqlite3.Connection, new: FileState, *, path: str | None = None,
               frm: Iterable[FileState] | None = None, where: str = "", args: Sequence[object] = (),
               fields: Mapping[str, object] | None = None) -> int: ...


@overload
def transition(c: sqlite3.Connection, new: BundleState, *, bundle: int,
               fields: Mapping[str, object] | None = None) -> int: ...


def transition(c: sqlite3.Connection, new: FileState | BundleState, *, path: str | None = None,
               frm: Iterable[FileState] | None = None, where: str = "", args: Sequence[object] = (),
               fields: Mapping[str, object] | None = None, bundle: int | None = None) -> int:
    """The one way a state changes; returns the number of rows moved.

    A bundle (`new` a BundleState): bundle `bundle` from its state (IllegalTransition when that move is
    not allowed, KeyError when there is no such bundle; staying in a state is no move).

    Files (`new` a FileState), with `path` and no `frm`: that file from whatever state it is in
    (IllegalTransition, KeyError likewise). Otherwise every file whose state is one of `frm` (each of
    which must be allowed to reach `new`), matching `path` and/or the `where` clause."""
    fields = fields or {}
    if isinstance(new, BundleState):
        if bundle is None:
            raise ValueError("a bundle's transition needs its id")
        return _bundle_transition(c, bundle, new, fields)
    if frm is None:
        if path is None:
            raise ValueError("transition needs a path or the states it moves files from")
        row = c.execute("SELECT state FROM files WHERE path = ?", (path,)).fetchone()
        if row is None:
            raise KeyError(path)
        frm = (FileState(row[0]),)
    sql = _transition_sql(new, tuple(dict.fromkeys(frm)), path is not None, where, tuple(fields))
    head: tuple[object, ...] = (path,) if path is not None else ()
    return c.execute(sql, (*fields.values(), *head, *args)).rowcount


def _bundle_transition(c: sqlite3.Connection, bid: int, new: BundleState, fields: Mapping[str, object]) -> int:
    row = c.execute("SELECT state FROM bundles WHERE id = ?", (bid,)).fetchone()
    if row is None:
        raise KeyError(bid)
    old = BundleState(row[0])
    if old is not new:
        check_bundle_transition(old, new)
    sets, vals = _sets(fields, BUNDLE_FIELDS)
    return c.execute(f"UPDATE bundles SET state = ?{sets} WHERE id = ?", (new.value, *vals, bid)).rowcount


def transition_each(c: sqlite3.Connection, new: FileState, frm: Sequence[FileState], where: str,
                    fields: Sequence[str], rows: Iterable[Sequence[object]]) -> list[bool]:
    """`transition` by path for many files: each row is (*field values, path, *where args); returns, per
    row, whether that file moved."""
    sql = _transition_sql(new, tuple(frm), True, where, tuple(fields))
    return [c.execute(sql, row).rowcount == 1 for row in rows]


class Files:
    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def get(self, path: str) -> FileRecord | None:
        row = self.c.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return FileRecord.from_row(row) if row else None

    def select(self, state: FileState | None = None, include_deleted: bool = False) -> list[FileRecord]:
        q = "SELECT * FROM files"
        cond: list[str] = []
        args: list[object] = []
        if state is not None:
            cond.append("state = ?")
            args.append(state.value)
        if not include_deleted:
            cond.append("deleted = 0")
        if cond:
            q += " WHERE " + " AND ".join(cond)
        return [FileRecord.from_row(r) for r in self.c.execute(q + " ORDER BY path", args)]

    def under(self, prefix: str, include_deleted: bool) -> list[FileRecord]:
        """The file `prefix` and the files below `prefix/`, by path: two range scans of the primary key
        ("/" sorts just below "0", so `prefix/` .. `prefix0` is exactly the subtree)."""
        gone = "" if include_deleted else " AND deleted = 0"
        if not prefix:
            return [FileRecord.from_row(r) for r in self.c.execute(f"SELECT * FROM files WHERE 1{gone} ORDER BY path")]
        rows = list(self.c.execute(f"SELECT * FROM files WHERE path = ?{gone}", (prefix,)))
        rows += self.c.execute(f"SELECT * FROM files WHERE path >= ? AND path < ?{gone} ORDER BY path",
                               (prefix + "/", prefix + "0"))
        return [FileRecord.from_row(r) for r in rows]

    def stat_map(self) -> dict[str, StatRow]:
        return {r[0]: StatRow(r[1], r[2], r[3], r[4], r[5])
                for r in self.c.execute("SELECT path, size, mtime_ns, inode, state, deleted FROM files")}

    def stat_rows(self, paths: Sequence[str]) -> dict[str, StatRow]:
        out: dict[str, StatRow] = {}
        for i in range(0, len(paths), 500):
            chunk = paths[i:i + 500]
            for r in self.c.execute("SELECT path, size, mtime_ns, inode, state, deleted FROM files "
                                    f"WHERE path IN ({','.join('?' * len(chunk))})", chunk):
                out[r[0]] = StatRow(r[1], r[2], r[3], r[4], r[5])
        return out

    def upsert_seen(self, rows: Iterable[tuple[str, int, int, int]], now: float) -> int:
        """Files found on disk new or changed: new rows start `local`; known ones move to `local` from
        whatever state they are in (checked: every state may go there), forgetting their CID."""
        _check_moves(tuple(FileState), FileState.LOCAL)
        return self.c.executemany(
                """INSERT INTO files (path, size, mtime_ns, inode, state, first_seen, last_seen)
                   VALUES (?, ?, ?, ?, 'local', ?, ?)
                   ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                     inode = excluded.inode, state = 'local', cid = NULL, profile = NULL, bundle_id = NULL,
                     deleted = 0, hashed_at = NULL, stored_at = NULL, evicted_at = NULL,
                     test_retrieval_at = NULL, last_seen = excluded.last_seen""",
                ((path, size, mtime_ns, inode, now, now) for path, size, mtime_ns, inode in rows)).rowcount

    def upsert_hashed(self, rows: Iterable[tuple[str, int, int, int, str]], profile: str, now: float) -> int:
        """Files found new or changed and hashed right after the walk saw them, as (path, size, mtime_ns,
        inode, cid): `upsert_seen` and `set_hashed` in one write (any state → `local` → `hashed`, both
        allowed moves). `profile` and `now` go in as literals: one parameter tuple per row is the row."""
        if not _PROFILE_NAME.fullmatch(profile):
            raise ValueError(f"not a profile name: {profile!r}")
        _check_moves(tuple(FileState), FileState.LOCAL)
        _check_moves((FileState.LOCAL,), FileState.HASHED)
        t = repr(float(now))
        return self.c.executemany(
            f"""INSERT INTO files (path, size, mtime_ns, inode, cid, profile, state, first_seen, last_seen, hashed_at)
                VALUES (?, ?, ?, ?, ?, '{profile}', 'hashed', {t}, {t}, {t})
                ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
                  inode = excluded.inode, state = 'hashed', cid = excluded.cid, profile = excluded.profile,
                  bundle_id = NULL, deleted = 0, hashed_at = excluded.hashed_at, stored_at = NULL,
                  evicted_at = NULL, test_retrieval_at = NULL, last_seen = excluded.last_seen""",
            rows).rowcount

    def defer_indexes(self) -> None:
        """A bulk load begins: drop the indexes it would fill in random order (schema.BULK_DEFERRED) and
        the running totals' triggers (a counter update per row for nothing: counted once at the end)."""
        for name in BULK_DEFERRED:
            self.c.execute(f"DROP INDEX IF EXISTS {name}")
        pause_totals(self.c)

    def build_indexes(self) -> None:
        """A bulk load ends: build those indexes, each in one sorted pass, and count the totals."""
        for sql in BULK_DEFERRED.values():
            self.c.execute(sql)
        if not totals_ready(self.c):
            count_totals(self.c)

    def any(self) -> bool:
        return self.c.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def live_count(self) -> int:
        """Rows a scan expects on disk: not deleted upstream, not evicted by us."""
        if totals_ready(self.c):
            return int(self.c.execute("SELECT COALESCE(SUM(files), 0) FROM file_totals WHERE deleted = 0 "
                                      "AND state != 'evicted'").fetchone()[0])
        return int(self.c.execute("SELECT COUNT(*) FROM files WHERE deleted = 0 AND state != 'evicted'")
                   .fetchone()[0])

    def live_not_in(self, seen: Iterable[str]) -> list[str]:
        """The live rows (see `live_count`) whose path is not in `seen`, by path. `seen` goes through
        a temporary table (on disk unless SQLite keeps temp tables in memory): memory stays flat."""
        self.c.execute("CREATE TEMP TABLE IF NOT EXISTS scan_seen (path TEXT PRIMARY KEY) WITHOUT ROWID")
        self.c.execute("DELETE FROM temp.scan_seen")
        self.c.executemany("INSERT OR IGNORE INTO temp.scan_seen VALUES (?)", ((p,) for p in seen))
        try:
            return [r[0] for r in self.c.execute(
                "SELECT path FROM files WHERE deleted = 0 AND state != 'evicted' "
                "AND path NOT IN (SELECT path FROM temp.scan_seen) ORDER BY path")]
        finally:
            self.c.execute("DELETE FROM temp.scan_seen")

    def pending_page(self, after: int, limit: int) -> list[tuple[int, Pending]]:
        """Up to `limit` `local` files on disk with rowid > after, as (rowid, Pending), by rowid (the
        state index gives them in that order: no sort, however many there are)."""
        return [(r[0], Pending(r[1], r[2], r[3], r[4])) for r in self.c.execute(
            "SELECT rowid, path, size, mtime_ns, inode FROM files WHERE state = 'local' AND deleted = 0 "
            "AND rowid > ? ORDER BY rowid LIMIT ?", (after, limit))]

    def mark_deleted(self, paths: Iterable[str]) -> int:
        return self.c.executemany("UPDATE files SET deleted = 1 WHERE path = ? AND deleted = 0",
                                  ((p,) for p in paths)).rowcount

    def set_hashed(self, path: str, expect: tuple[int, int, int], profile: str, cid: str, now: float) -> bool:
        """`local` → `hashed` only if the row still describes the bytes that were hashed."""
        size, mtime_ns, inode = expect
        return transition(self.c, FileState.HASHED, frm=(FileState.LOCAL,), path=path,
                          where="size = ? AND mtime_ns = ? AND inode = ?", args=(size, mtime_ns, inode),
                          fields={"cid": cid, "profile": profile, "hashed_at": now}) == 1

    def set_state(self, path: str, new: FileState, fields: Mapping[str, object]) -> None:
        """Move one file from whatever state it is in (IllegalTransition, KeyError)."""
        transition(self.c, new, path=path, fields=fields)

    def set_hashed_many(self, rows: Sequence[tuple[str, tuple[int, int, int], str]], profile: str,
                        now: float) -> list[str]:
        """`set_hashed` for many (path, expect, cid); returns the paths refused."""
        moved = transition_each(self.c, FileState.HASHED, (FileState.LOCAL,),
                                "size = ? AND mtime_ns = ? AND inode = ?", ("cid", "profile", "hashed_at"),
                                ((cid, profile, now, path, *expect) for path, expect, cid in rows))
        return [row[0] for row, ok in zip(rows, moved, strict=True) if not ok]

    def back_to_local(self, path: str) -> None:
        """Forget the CID; mtime -1 makes the next scan see the file as changed."""
        transition(self.c, FileState.LOCAL, frm=FileState, path=path,
                   fields={"cid": None, "profile": None, "hashed_at": None, "mtime_ns": -1})

    def touch(self, path: str, when: float) -> None:
        self.c.execute("UPDATE files SET last_access = ? WHERE path = ?", (when, path))

    def touch_cached(self, seen: Mapping[str, float]) -> int:
        """Record later uses of `cached` files (the only ones whose last use matters)."""
        n = 0
        for path, when in seen.items():
            n += self.c.execute("UPDATE files SET last_access = MAX(COALESCE(last_access, 0), ?) "
                                "WHERE path = ? AND state = 'cached'", (when, path)).rowcount
        return n

    def mark_cached(self, path: str, inode: int, now: float) -> bool:
        return transition(self.c, FileState.CACHED, frm=(FileState.EVICTED,), path=path,
                          fields={"inode": inode, "last_access": now}) == 1

    def mark_evicted(self, path: str, now: float) -> int:
        return transition(self.c, FileState.EVICTED, frm=(FileState.STORED, FileState.CACHED), path=path,
                          fields={"evicted_at": now})

    def cached_lru(self) -> list[FileRecord]:
        rows = self.c.execute("SELECT * FROM files WHERE state = 'cached' AND deleted = 0 "
                              "ORDER BY COALESCE(last_access, 0), path")
        return [FileRecord.from_row(r) for r in rows]

    def cid_holders(self, cid: str) -> list[FileRecord]:
        return [FileRecord.from_row(r) for r in
                self.c.execute("SELECT * FROM files WHERE cid = ? ORDER BY path", (cid,))]

    # -- running totals (schema.py `file_totals`): sums of counter rows, or of the rows themselves while
    # the counters are not trusted (a bulk load under way) --------------------------------------------
    def counts(self) -> dict[str, StateTotal]:
        """state -> (files, bytes) of the files upstream still has."""
        out = {s.value: StateTotal(0, 0) for s in FileState}
        sql = ("SELECT state, SUM(files), SUM(bytes) FROM file_totals WHERE deleted = 0 GROUP BY state"
               if totals_ready(self.c) else
               "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE deleted = 0 GROUP BY state")
        for state, n, b in self.c.execute(sql):
            out[state] = StateTotal(int(n), int(b))
        return out

    def deleted_total(self) -> StateTotal:
        sql = ("SELECT COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0) FROM file_totals WHERE deleted = 1"
               if totals_ready(self.c) else
               "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE deleted = 1")
        n, b = self.c.execute(sql).fetchone()
        return StateTotal(int(n), int(b))

    def totals_drift(self) -> dict[tuple[str, int, int, int], tuple[int, int]]:
        """Counter rows that differ from a count of `files` (key -> (files, bytes) off by): {} when
        exact. For tests and checks; reads every row."""
        if not totals_ready(self.c):
            return {("triggers missing", 0, 0, 0): (0, 0)}
        want: dict[tuple[str, int, int, int], tuple[int, int]] = {}
        for st, d, ne, day, n, b in self.c.execute(
                f"SELECT state, deleted, size > 0, mtime_ns / {DAY_NS}, COUNT(*), COALESCE(SUM(size), 0) "
                "FROM files GROUP BY 1, 2, 3, 4"):
            want[(st, int(d), int(ne), int(day))] = (int(n), int(b))
        have = {(st, int(d), int(ne), int(day)): (int(n), int(b)) for st, d, ne, day, n, b in self.c.execute(
            "SELECT state, deleted, nonempty, day, files, bytes FROM file_totals")}
        out = {}
        for key in want.keys() | have.keys():
            h, w = have.get(key, (0, 0)), want.get(key, (0, 0))
            if h != w:
                out[key] = (h[0] - w[0], h[1] - w[1])
        return out

    def hashed_unbundled(self) -> list[BundleMember]:
        """Files hashed and not stored anywhere yet (no bundle, no foreign copies)."""
        return [BundleMember(*r) for r in self.c.execute(
            "SELECT path, cid, size, mtime_ns FROM files WHERE state = 'hashed' AND deleted = 0 "
            "AND bundle_id IS NULL ORDER BY path")]

    def hashed_unbundled_page(self, after: str | None, limit: int) -> list[BundleMember]:
        """`hashed_unbundled`, a page at a time: the first `limit` paths after `after` (None: from the start)."""
        cond, args = ("", ()) if after is None else (" AND path > ?", (after,))
        return [BundleMember(*r) for r in self.c.execute(
            "SELECT path, cid, size, mtime_ns FROM files WHERE bundle_id IS NULL AND state = 'hashed' "
            f"AND deleted = 0{cond} ORDER BY path LIMIT ?", (*args, limit))]

    def hashed_unbundled_records(self, after: str | None, limit: int) -> list[FileRecord]:
        """The whole rows of `hashed_unbundled_page`."""
        cond, args = ("", ()) if after is None else (" AND path > ?", (after,))
        return [FileRecord.from_row(r) for r in self.c.execute(
            "SELECT * FROM files WHERE bundle_id IS NULL AND state = 'hashed' "
            f"AND deleted = 0{cond} ORDER BY path LIMIT ?", (*args, limit))]

    def pending_hash(self, limit: int | None) -> list[Pending]:
        q = "SELECT path, size, mtime_ns, inode FROM files WHERE state = 'local' AND deleted = 0 ORDER BY path"
        if limit is not None:
            return [Pending(*r) for r in self.c.execute(q + " LIMIT ?", (limit,))]
        return [Pending(*r) for r in self.c.execute(q)]

    def foreign_only(self) -> list[str]:
        """Files stored only by others' copies (a CID, no bundle of ours)."""
        return [r[0] for r in self.c.execute(
            "SELECT path FROM files WHERE bundle_id IS NULL AND deleted = 0 AND cid IS NOT NULL "
            "AND state IN ('stored', 'evicted', 'cached') ORDER BY path")]

    def evicted(self) -> list[PathStat]:
        """Evicted files upstream still has, by path."""
        return [PathStat(*r) for r in self.c.execute(
            "SELECT path, size, mtime_ns FROM files WHERE state = 'evicted' AND deleted = 0 ORDER BY path")]

    def evicted_fingerprint(self) -> tuple[int, int, int, int]:
        """(count, total size, total mtime_ns, total path length) of the evicted files upstream still has:
        changes whenever a file joins or leaves that set or changes (shadow.py skips a pass on it)."""
        row = self.c.execute("SELECT count(*), coalesce(sum(size), 0), coalesce(sum(mtime_ns % 2147483647), 0), "
                             "coalesce(sum(length(path) * 31 + unicode(substr(path, -1))), 0) FROM files "
                             "WHERE state = 'evicted' AND deleted = 0").fetchone()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def evicted_range(self, lo: str, hi: str, inclusive: bool, limit: int) -> list[PathStat]:
        """Evicted, not deleted files with lo <(=) path < hi, by path (a range scan of the primary key)."""
        op = ">=" if inclusive else ">"
        return [PathStat(*r) for r in self.c.execute(
            f"SELECT path, size, mtime_ns FROM files WHERE path {op} ? AND path < ? AND state = 'evicted' "
            "AND deleted = 0 ORDER BY path LIMIT ?", (lo, hi, limit))]

    # -- the eviction rule's one query (archive/policy.py `due_query` says what it asks) -----------
    @staticmethod
    def _due(q: DueQuery) -> tuple[str, list[object]]:
        states = ", ".join("?" * len(q.states))
        holding = ", ".join("?" * len(q.holding_bundles)) or "NULL"
        where = (f"state IN ({states}) AND deleted = 0 AND mtime_ns < ? AND size >= ? AND (bundle_id IS NULL "
                 f"OR bundle_id NOT IN (SELECT id FROM bundles WHERE state IN ({holding})))")
        return where, [*(s.value for s in q.states), q.mtime_before_ns, q.min_size, *q.holding_bundles]

    def due_total(self, q: DueQuery) -> StateTotal:
        """Files and bytes the rule lets go now, copies aside (`evictable_now`).

        From the running totals: the whole days before the cutoff's day are summed from `file_totals`
        (less the files of those days in holding bundles, rare, found through files_bundle_path); the
        cutoff's own day is asked of the rows with the rule's query itself (files_due, one day of
        mtimes). The rows alone answer when the totals cannot: a bulk load under way, a size floor
        above one byte, a cutoff within a day of the epoch."""
        where, args = self._due(q)
        day = q.mtime_before_ns // DAY_NS
        if q.min_size > 1 or day < 1 or not totals_ready(self.c):
            n, b = self.c.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE {where}",
                                  args).fetchone()
            return StateTotal(int(n), int(b))
        start = day * DAY_NS
        states = [s.value for s in q.states]
        marks = ", ".join("?" * len(states))
        nonempty = " AND nonempty = 1" if q.min_size == 1 else ""
        n1, b1 = self.c.execute(
            "SELECT COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0) FROM file_totals "
            f"WHERE state IN ({marks}) AND deleted = 0{nonempty} AND day < ?", [*states, day]).fetchone()
        n2, b2 = 0, 0
        if q.holding_bundles:
            held = ", ".join("?" * len(q.holding_bundles))
            n2, b2 = self.c.execute(
                # unary + keeps files_due out of it: the holding bundles' rows are the few to read
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE bundle_id IN "
                f"(SELECT id FROM bundles WHERE state IN ({held})) AND +state IN ({marks}) AND +deleted = 0 "
                "AND +mtime_ns < ? AND +size >= ?", [*q.holding_bundles, *states, start, q.min_size]).fetchone()
        n3, b3 = self.c.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE {where} AND mtime_ns >= ?",
                                [*args, start]).fetchone()
        return StateTotal(int(n1) - int(n2) + int(n3), int(b1) - int(b2) + int(b3))

    def due_groups(self, q: DueQuery) -> list[tuple[int | None, int]]:
        """(bundle_id, files due) per bundle, the bundle with the oldest due file first."""
        where, args = self._due(q)
        return [(r[0], int(r[1])) for r in self.c.execute(
            f"SELECT bundle_id, COUNT(*), MIN(mtime_ns) AS m FROM files WHERE {where} GROUP BY bundle_id "
            "ORDER BY m, bundle_id", args)]

    def due_page(self, q: DueQuery, bundle_id: int | None, after: str, n: int) -> list[FileRecord]:
        """The next `n` due files of one bundle (None: of no bundle) after path `after`, by path."""
        where, args = self._due(q)
        cond, cargs = ("bundle_id IS NULL", []) if bundle_id is None else ("bundle_id = ?", [bundle_id])
        return [FileRecord.from_row(r) for r in self.c.execute(
            f"SELECT * FROM files WHERE {cond} AND path > ? AND {where} ORDER BY path LIMIT ?",
            [*cargs, after, *args, n])]

    def due_rows(self, q: DueQuery, bundle_id: int | None, after: str, n: int) -> list[DueRow]:
        """`due_page` as plain tuples (path, size, mtime_ns, inode, state, test_retrieval_at): the
        eviction's hot loop reads half a million of them, and a tuple costs no Python per row."""
        where, args = self._due(q)
        cond, cargs = ("bundle_id IS NULL", []) if bundle_id is None else ("bundle_id = ?", [bundle_id])
        cur = self.c.cursor()
        cur.row_factory = None
        rows: list[DueRow] = cur.execute(
            f"SELECT path, size, mtime_ns, inode, state, test_retrieval_at FROM files WHERE {cond} AND path > ? "
            f"AND {where} ORDER BY path LIMIT ?", [*cargs, after, *args, n]).fetchall()
        return rows

    def oldest_waiting(self, states: Sequence[FileState], limit: int) -> list[DueFile]:
        """Non-empty files on disk in `states`, oldest mtime first: one short walk of files_due per state."""
        out: list[DueFile] = []
        for s in states:
            out += [DueFile(*r) for r in self.c.execute(
                "SELECT path, size, mtime_ns, state FROM files WHERE state = ? AND deleted = 0 AND size > 0 "
                "ORDER BY mtime_ns LIMIT ?", (s.value, limit))]
        return sorted(out, key=lambda f: (f.mtime_ns, f.path))[:limit]

    def evicted_batch(self, paths: Sequence[str], now: float, tested_at: float | None) -> int:
        """A batch's unlinked files become `evicted`, from `stored` or `cached`: one statement built (and
        its move checked) by `transition`'s own builder, run for each path. `tested_at`: the bundle's
        verified test retrieval, which covered every file of the batch (it replaces an older time of a
        file tested alone: what counts is that one verified retrieval tested it)."""
        fields: tuple[str, ...] = ("evicted_at",) if tested_at is None else ("evicted_at", "test_retrieval_at")
        sql = _transition_sql(FileState.EVICTED, (FileState.STORED, FileState.CACHED), True, "", fields)
        head: tuple[object, ...] = (now,) if tested_at is None else (now, tested_at)
        return self.c.executemany(sql, ((*head, p) for p in paths)).rowcount

    def set_test_retrieval(self, path: str, when: float) -> None:
        self.c.execute("UPDATE files SET test_retrieval_at = ? WHERE path = ?", (when, path))

    def attach_to_known_bundles(self, now: float) -> tuple[int, int]:
        """Hashed files whose CID is already in one of our bundles join it. Returns (stored, storing)."""
        self.c.execute("""UPDATE files SET bundle_id = (
                SELECT bf.bundle_id FROM bundle_files bf JOIN bundles b ON b.id = bf.bundle_id
                WHERE bf.cid = files.cid AND b.state != 'packing'
                ORDER BY (b.state = 'stored') DESC, bf.bundle_id LIMIT 1)
            WHERE state = 'hashed' AND bundle_id IS NULL AND deleted = 0 AND cid IN (
                SELECT bf.cid FROM bundle_files bf JOIN bundles b ON b.id = bf.bundle_id
                WHERE b.state != 'packing')""")
        stored = transition(self.c, FileState.STORED, frm=(FileState.HASHED,),
                            where="bundle_id IN (SELECT id FROM bundles WHERE state = 'stored')",
                            fields={"stored_at": now})
        storing = transition(self.c, FileState.STORING, frm=(FileState.HASHED,), where="bundle_id IS NOT NULL")
        return stored, storing


class Bundles:
    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def create(self, members: Iterable[tuple[str, str, int, int]], now: float) -> int:
        """A new `packing` bundle of (path, cid, size, mtime_ns); its hashed files become `storing`."""
        bid = int(self.c.execute("INSERT INTO bundles (state, created) VALUES (?, ?)",
                                 (BundleState.PACKING.value, now)).lastrowid or 0)
        for path, cid, size, mtime_ns in members:
            self.c.execute("INSERT INTO bundle_files (bundle_id, path, cid, size, mtime_ns) VALUES (?, ?, ?, ?, ?)",
                           (bid, path, cid, size, mtime_ns))
            transition(self.c, FileState.STORING, frm=(FileState.HASHED,), path=path, where="cid = ?",
                       args=(cid,), fields={"bundle_id": bid})
        return bid

    def create_range(self, first: str, last: str, now: float) -> tuple[int, int]:
        """`create` for every hashed, unbundled file with first <= path <= last (one planned bundle), in
        SQL: the members never pass through Python. Returns (bundle id, files)."""
        bid = int(self.c.execute("INSERT INTO bundles (state, created) VALUES (?, ?)",
                                 (BundleState.PACKING.value, now)).lastrowid or 0)
        span = "bundle_id IS NULL AND deleted = 0 AND path >= ? AND path <= ?"
        self.c.execute("INSERT INTO bundle_files (bundle_id, path, cid, size, mtime_ns) "
                       f"SELECT ?, path, cid, size, mtime_ns FROM files WHERE {span} AND state = 'hashed' "
                       "AND cid IS NOT NULL", (bid, first, last))
        n = transition(self.c, FileState.STORING, frm=(FileState.HASHED,), where=f"{span} AND cid IS NOT NULL",
                       args=(first, last), fields={"bundle_id": bid})
        return bid, n

    def members_page(self, bid: int, after: str | None, limit: int) -> list[BundleMember]:
        """`members`, a page at a time: the first `limit` paths after `after` (None: from the start)."""
        cond, args = ("", ()) if after is None else (" AND path > ?", (after,))
        return [BundleMember(*r) for r in self.c.execute(
            f"SELECT path, cid, size, mtime_ns FROM bundle_files WHERE bundle_id = ?{cond} ORDER BY path LIMIT ?",
            (bid, *args, limit))]

    def get(self, bid: int) -> Bundle | None:
        row = self.c.execute("SELECT * FROM bundles WHERE id = ?", (bid,)).fetchone()
        return Bundle.from_row(row) if row else None

    def select(self, state: BundleState | str | None = None) -> list[Bundle]:
        if state:
            rows = self.c.execute("SELECT * FROM bundles WHERE state = ? ORDER BY id", (BundleState(state).value,))
        else:
            rows = self.c.execute("SELECT * FROM bundles ORDER BY id")
        return [Bundle.from_row(r) for r in rows]

    def by_piece(self, piece_cid: str) -> Bundle | None:
        row = self.c.execute("SELECT * FROM bundles WHERE piece_cid = ? ORDER BY id LIMIT 1", (piece_cid,)).fetchone()
        return Bundle.from_row(row) if row else None

    def members(self, bid: int) -> list[BundleMember]:
        return [BundleMember(*r) for r in self.c.execute(
            "SELECT path, cid, size, mtime_ns FROM bundle_files WHERE bundle_id = ? ORDER BY path", (bid,))]

    def stage(self, bid: int, *, root_cid: str, piece_cid: str, piece_cid_v2: str, padded_size: int,
              car_size: int) -> None:
        transition(self.c, BundleState.STAGED, bundle=bid, fields={
            "root_cid": root_cid, "piece_cid": piece_cid, "piece_cid_v2": piece_cid_v2, "padded_size": padded_size,
            "car_size": car_size})

    def set_tested(self, bid: int, when: float) -> None:
        """One verified retrieval of the bundle's whole piece (it tests every file in it)."""
        self.c.execute("UPDATE bundles SET test_retrieval_at = ? WHERE id = ?", (when, bid))

    def set_state(self, bid: int, new: BundleState) -> None:
        transition(self.c, new, bundle=bid)

    def mark_stored(self, bid: int, now: float) -> int:
        """The bundle has its copies: it and its `storing` files become `stored`."""
        transition(self.c, BundleState.STORED, bundle=bid)
        return transition(self.c, FileState.STORED, frm=(FileState.STORING,), where="bundle_id = ?", args=(bid,),
                          fields={"stored_at": now})

    def rollback(self, bid: int) -> None:
        """Forget an unfinished (`packing`) bundle: its files go back to `hashed`."""
        b = self.get(bid)
        if b is not None and b.state is not BundleState.PACKING:
            raise IllegalTransition(f"bundle {bid} is {b.state.value}: only a packing bundle is rolled back")
        transition(self.c, FileState.HASHED, frm=(FileState.STORING,), where="bundle_id = ?", args=(bid,),
                   fields={"bundle_id": None})
        self.c.execute("DELETE FROM bundle_files WHERE bundle_id = ?", (bid,))
        self.c.execute("DELETE FROM bundles WHERE id = ?", (bid,))

    def totals(self) -> dict[str, StateTotal]:
        """state -> (bundles, padded bytes)."""
        return {s: StateTotal(n, b or 0) for s, n, b in self.c.execute(
            "SELECT state, COUNT(*), SUM(padded_size) FROM bundles GROUP BY state")}


class Copies:
    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def record(self, piece_cid: str, epoch: int, providers: Iterable[tuple[str, int, bool]], now: float) -> None:
        """Replace the cached chain view of a piece: (provider, deal_id, active)."""
        self.c.execute("DELETE FROM copies WHERE piece_cid = ?", (piece_cid,))
        for provider, deal_id, active in providers:
            self.c.execute("INSERT OR REPLACE INTO copies (piece_cid, provider, deal_id, active, epoch, checked_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (piece_cid, provider, deal_id, int(active), epoch, now))

    def verified(self, piece_cid: str) -> int:
        return int(self.c.execute("SELECT COUNT(DISTINCT provider) FROM copies WHERE piece_cid = ? AND active = 1",
                                  (piece_cid,)).fetchone()[0])

    def providers(self, piece_cid: str) -> list[str]:
        return [r[0] for r in self.c.execute(
            "SELECT DISTINCT provider FROM copies WHERE piece_cid = ? AND active = 1 ORDER BY provider", (piece_cid,))]

    def active_deals(self, piece_cid: str) -> list[tuple[str, int]]:
        """(provider, deal_id) of the live copies, by provider."""
        return [(r[0], int(r[1])) for r in self.c.execute(
            "SELECT provider, deal_id FROM copies WHERE piece_cid = ? AND active = 1 ORDER BY provider, deal_id",
            (piece_cid,))]

    def histogram(self) -> dict[int, int]:
        hist: dict[int, int] = {}
        for (n,) in self.c.execute(
                "SELECT (SELECT COUNT(DISTINCT provider) FROM copies c WHERE c.piece_cid = b.piece_cid "
                "AND c.active = 1) FROM bundles b WHERE b.piece_cid IS NOT NULL"):
            hist[int(n)] = hist.get(int(n), 0) + 1
        return hist

    def set_foreign(self, cid: str, providers: int, piece_cid: str | None, stored: bool, now: float) -> int:
        self.c.execute("INSERT OR REPLACE INTO foreign_copies (cid, providers, piece_cid, verified_at) "
                       "VALUES (?, ?, ?, ?)", (cid, providers, piece_cid, now))
        if not stored:
            return 0
        return transition(self.c, FileState.STORED, frm=(FileState.HASHED,), where="cid = ? AND bundle_id IS NULL",
                          args=(cid,), fields={"stored_at": now})

    def foreign(self, cid: str) -> ForeignCopies | None:
        row = self.c.execute("SELECT providers, piece_cid, verified_at FROM foreign_copies WHERE cid = ?",
                             (cid,)).fetchone()
        return ForeignCopies(int(row[0]), row[1], float(row[2])) if row else None


class Journal:
    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def begin(self, op: str, step: str, path: str | None, bundle_id: int | None, detail: str | None,
              now: float) -> int:
        return int(self.c.execute(
            "INSERT INTO journal (op, path, bundle_id, step, detail, created) VALUES (?, ?, ?, ?, ?, ?)",
            (op, path, bundle_id, step, detail, now)).lastrowid or 0)

    def step(self, jid: int, step: str) -> None:
        self.c.execute("UPDATE journal SET step = ? WHERE id = ?", (step, jid))

    def end(self, jid: int) -> None:
        self.c.execute("DELETE FROM journal WHERE id = ?", (jid,))

    def open(self) -> list[JournalEntry]:
        return [JournalEntry(*r) for r in self.c.execute(
            "SELECT id, op, path, bundle_id, step, detail, created FROM journal ORDER BY id")]


class Meta:
    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str) -> None:
        self.c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


class ScanLog:
    """The scan log (schema.py) and the snapshot token a rescan's fast path depends on."""

    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def ready(self) -> bool:
        return scan_log_ready(self.c)

    def create(self) -> None:
        create_scan_log(self.c)

    def token(self) -> str | None:
        return Meta(self.c).get(SNAPSHOT_TOKEN_KEY)

    def set_token(self, token: str) -> None:
        Meta(self.c).set(SNAPSHOT_TOKEN_KEY, token)

    def state(self, max_logged: int) -> ScanLogState:
        """Token, the last logged entry and the paths logged up to it (None: more than max_logged)."""
        mark = self.last()
        paths = self.c.execute("SELECT DISTINCT path FROM scan_log WHERE seq <= ? LIMIT ?",
                               (mark, max_logged + 1)).fetchall()
        logged = {p for (p,) in paths} if len(paths) <= max_logged else None
        return ScanLogState(self.token(), mark, logged)

    def last(self) -> int:
        return int(self.c.execute("SELECT COALESCE(MAX(seq), 0) FROM scan_log").fetchone()[0])

    def size(self) -> int:
        return int(self.c.execute("SELECT COUNT(*) FROM scan_log").fetchone()[0])

    def trim(self, upto: int) -> None:
        self.c.execute("DELETE FROM scan_log WHERE seq <= ?", (upto,))

    def drop_after(self, start: int) -> None:
        self.c.execute("DELETE FROM scan_log WHERE seq > ?", (start,))

    def pause(self) -> None:
        """Drop the triggers for the rest of this transaction (DDL is part of it: no other connection
        sees them gone); `resume` puts them back before it commits."""
        for name in SCAN_LOG_TRIGGERS:
            self.c.execute(f"DROP TRIGGER {name}")

    def resume(self) -> None:
        for sql in SCAN_LOG_TRIGGERS.values():
            self.c.execute(sql)


class Repos:
    """The repositories, all on one connection (and so in one transaction when written together)."""

    def __init__(self, c: sqlite3.Connection):
        self.files = Files(c)
        self.bundles = Bundles(c)
        self.copies = Copies(c)
        self.journal = Journal(c)
        self.meta = Meta(c)
        self.scan_log = ScanLog(c)

    @staticmethod
    def now() -> float:
        return time.time()
