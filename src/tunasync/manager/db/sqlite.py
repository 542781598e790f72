"""SQLite backend: WAL, fsync'd commits, Go JSON values, all sqlite calls on one dedicated thread.

Workers and statuses are small (thousands of records), so they are read once at open and served
from memory; this process is their only writer. Writes are group-committed: every write queued
while a commit is in flight goes into the next transaction, and a caller's `await` returns only
after the commit holding its write is durable (synchronous=FULL), so an acknowledged update
survives kill -9 and power loss. Writes are data (SQL + parameters), so a commit runs runs of the
same statement as one `executemany`: few round trips between the sqlite thread and the event loop.

The file holds the workers' tokens, so it is private: created 0600 before SQLite opens it (SQLite
gives its -wal and -shm files the mode of the database file), and an existing database, WAL or SHM
file that others may read is narrowed to owner-only at open, with a warning in the log.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from ...models import MirrorStatus, WorkerStatus
from .base import (
    Database,
    HistoryItem,
    RunRecord,
    StatusItem,
    dump_model,
    history_cutoff,
    history_point,
    hour_of,
    load_status,
    load_worker,
    normalise_items,
    should_flush,
    status_not_found,
    worker_not_found,
)

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mirror_status (
    worker TEXT NOT NULL, mirror TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (worker, mirror));
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, worker TEXT NOT NULL, mirror TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_mirror ON runs (worker, mirror, seq);
CREATE TABLE IF NOT EXISTS archive_stats (
    worker TEXT NOT NULL, mirror TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (worker, mirror));
CREATE TABLE IF NOT EXISTS archive_points (
    worker TEXT NOT NULL, mirror TEXT NOT NULL, hour INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (worker, mirror, hour)) WITHOUT ROWID;
"""

PUT_WORKER = "INSERT OR REPLACE INTO workers (id, value) VALUES (?, ?)"
DEL_WORKER = "DELETE FROM workers WHERE id = ?"
PUT_STATUS = "INSERT OR REPLACE INTO mirror_status (worker, mirror, value) VALUES (?, ?, ?)"
DEL_STATUS = "DELETE FROM mirror_status WHERE worker = ? AND mirror = ?"
ADD_RUN = "INSERT INTO runs (worker, mirror, value) VALUES (?, ?, ?)"
TRIM_RUNS = (
    "DELETE FROM runs WHERE worker = ? AND mirror = ? AND seq NOT IN "
    "(SELECT seq FROM runs WHERE worker = ? AND mirror = ? ORDER BY seq DESC LIMIT ?)"
)
PUT_ARCHIVE = "INSERT OR REPLACE INTO archive_stats (worker, mirror, value) VALUES (?, ?, ?)"
PUT_POINT = "INSERT OR REPLACE INTO archive_points (worker, mirror, hour, value) VALUES (?, ?, ?, ?)"
TRIM_POINTS = "DELETE FROM archive_points WHERE worker = ? AND mirror = ? AND hour < ?"

Op = tuple[str, tuple[Any, ...]]
HEARTBEAT_LAG = 1.0  # seconds a worker's last_online may wait in memory before it is written


def make_private(path: str) -> None:
    """Create `path` 0600 when missing; narrow it and its -wal/-shm files to owner-only when others may read."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # no such directory, not writable...: sqlite3.connect reports it as before
    for p in (path, path + "-wal", path + "-shm"):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
            try:
                os.chmod(p, stat.S_IMODE(st.st_mode) & 0o700)
                log.warning("%s was readable by others (mode %04o); it holds worker tokens: now %04o",
                            p, stat.S_IMODE(st.st_mode), stat.S_IMODE(st.st_mode) & 0o700)
            except OSError as exc:
                log.warning("%s is readable by others (mode %04o) and cannot be narrowed: %s",
                            p, stat.S_IMODE(st.st_mode), exc.strerror or exc)


class SqliteDatabase(Database):
    def __init__(self, path: str):
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunasync-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._workers: dict[str, WorkerStatus] = {}
        self._statuses: dict[tuple[str, str], MirrorStatus] = {}
        self._pending: list[tuple[list[Op], Callable[[], None] | None, asyncio.Future[None]]] = []
        self._touched: set[str] = set()
        self._touch_ready = False
        self._touch_timer: asyncio.TimerHandle | None = None
        self._drainer: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        db = cls(path)
        await db._call(db._open_sync)
        return db

    def _open_sync(self) -> None:
        make_private(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        self._conn = conn
        for wid, value in conn.execute("SELECT id, value FROM workers"):
            w = load_worker(value)
            if w is None:
                log.warning("skipping undecodable worker record %r in %s", wid, self.path)
            else:
                self._workers[wid] = w
        for wid, mid, value in conn.execute("SELECT worker, mirror, value FROM mirror_status"):
            s = load_status(value)
            if s is None:
                log.warning("skipping undecodable status record %s/%s in %s", mid, wid, self.path)
            else:
                self._statuses[(wid, mid)] = s

    async def close(self) -> None:
        if self._touch_timer is not None:
            self._touch_timer.cancel()
            self._touch_timer = None
        if self._touched:
            self._touch_ready = True
            self._kick()
        if self._drainer is not None:
            await asyncio.shield(self._drainer)
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._pool.shutdown(wait=True)

    # --- plumbing --------------------------------------------------------------------------
    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _write(self, ops: list[Op], apply: Callable[[], None] | None = None) -> None:
        """Queue `ops` for the next commit; `apply` updates the memory view once it is durable."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((ops, apply, fut))
        self._kick()
        await fut

    def _kick(self) -> None:
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending or (self._touched and self._touch_ready):
                batch, self._pending = self._pending, []
                writes = [ops for ops, _, _ in batch]
                if self._touched and self._touch_ready:  # coalesced heartbeats ride along with this commit
                    self._touch_ready = False
                    writes.append([(PUT_WORKER, (wid, dump_model(self._workers[wid])))
                                   for wid in self._touched if wid in self._workers])
                    self._touched = set()
                try:
                    errors = await self._call(self._commit, writes)
                except Exception as exc:  # the database itself is unusable: nobody's write is durable
                    errors = [exc] * len(writes)
                if len(errors) > len(batch) and errors[-1] is not None:
                    log.error("cannot store worker heartbeats: %s", errors[-1])
                for (_, apply, fut), err in zip(batch, errors, strict=False):
                    if err is None and apply is not None:
                        apply()
                    if fut.done():
                        continue
                    if err is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(err)
        finally:
            self._drainer = None

    def _commit(self, writes: list[list[Op]]) -> list[Exception | None]:
        """One transaction for all; if it fails, each write alone, so one bad write fails alone."""
        try:
            self._transaction([op for ops in writes for op in ops])
            return [None] * len(writes)
        except sqlite3.Error:
            if len(writes) == 1:
                raise
        out: list[Exception | None] = []
        for ops in writes:
            try:
                self._transaction(ops)
                out.append(None)
            except sqlite3.Error as exc:
                out.append(exc)
        return out

    def _transaction(self, ops: list[Op]) -> None:
        conn = self._conn
        assert conn is not None, "database is closed"
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, group in itertools.groupby(ops, key=lambda op: op[0]):
                conn.executemany(sql, [params for _, params in group])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # --- workers ---------------------------------------------------------------------------
    async def get_worker(self, worker_id: str) -> WorkerStatus:
        try:
            return self._workers[worker_id]
        except KeyError:
            raise worker_not_found(worker_id) from None

    async def list_workers(self) -> list[WorkerStatus]:
        return list(self._workers.values())

    # Worker records change in memory at once (restored if the commit fails), so a heartbeat
    # written in the same commit never carries an older URL or revives a deleted worker.
    async def create_worker(self, w: WorkerStatus) -> WorkerStatus:
        before = self._workers.get(w.id)
        self._workers[w.id] = w
        try:
            await self._write([(PUT_WORKER, (w.id, dump_model(w)))])
        except BaseException:
            self._restore(w.id, w, before)
            raise
        return w

    async def delete_worker(self, worker_id: str) -> None:
        before = self._workers.pop(worker_id, None)
        if before is None:
            raise worker_not_found(worker_id)
        try:
            await self._write([(DEL_WORKER, (worker_id,))])
        except BaseException:
            self._restore(worker_id, None, before)
            raise

    def _restore(self, worker_id: str, ours: WorkerStatus | None, before: WorkerStatus | None) -> None:
        if self._workers.get(worker_id) is not ours:
            return  # changed again since: the newer value wins
        if before is None:
            self._workers.pop(worker_id, None)
        else:
            self._workers[worker_id] = before

    async def touch_worker(self, worker_id: str, when: datetime) -> None:
        """Memory now; disk within HEARTBEAT_LAG seconds, not awaited: a crash may lose that much of a
        heartbeat (never a status), and a thousand posts a second write each worker's record once."""
        w = (await self.get_worker(worker_id)).model_copy(update={"last_online": when})
        self._workers[worker_id] = w
        self._touched.add(worker_id)
        if self._touch_timer is None and not self._touch_ready:
            self._touch_timer = asyncio.get_running_loop().call_later(HEARTBEAT_LAG, self._heartbeats_due)

    def _heartbeats_due(self) -> None:
        self._touch_timer = None
        self._touch_ready = True
        self._kick()

    # --- statuses --------------------------------------------------------------------------
    async def get_mirror_status(self, worker_id: str, mirror_id: str) -> MirrorStatus:
        try:
            return self._statuses[(worker_id, mirror_id)]
        except KeyError:
            raise status_not_found(worker_id, mirror_id) from None

    async def update_mirror_status(
        self, worker_id: str, mirror_id: str, s: MirrorStatus, encoded: str | None = None
    ) -> MirrorStatus:
        key = (worker_id, mirror_id)
        await self._write([(PUT_STATUS, (worker_id, mirror_id, encoded or dump_model(s)))],
                          lambda: self._statuses.__setitem__(key, s))
        return s

    async def list_mirror_status_items(self) -> list[StatusItem]:
        return [(w, m, s) for (w, m), s in self._statuses.items()]

    async def list_mirror_status(self, worker_id: str) -> list[MirrorStatus]:
        return [s for (w, _m), s in self._statuses.items() if w == worker_id]

    async def flush_disabled_jobs(self) -> list[tuple[str, str]]:
        victims = [key for key, s in self._statuses.items() if should_flush(s)]

        def forget() -> None:
            for key in victims:
                self._statuses.pop(key, None)

        if victims:
            await self._write([(DEL_STATUS, key) for key in victims], forget)
        return victims

    # --- history and archive figures ------------------------------------------------------
    async def add_run(self, worker_id: str, mirror_id: str, run: RunRecord, keep: int) -> None:
        await self._write([
            (ADD_RUN, (worker_id, mirror_id, run.dumps())),
            (TRIM_RUNS, (worker_id, mirror_id, worker_id, mirror_id, keep)),
        ])

    async def list_runs(self, worker_id: str, mirror_id: str, limit: int) -> list[RunRecord]:
        def query() -> list[str]:
            assert self._conn is not None
            cur = self._conn.execute(
                "SELECT value FROM runs WHERE worker = ? AND mirror = ? ORDER BY seq DESC LIMIT ?",
                (worker_id, mirror_id, limit),
            )
            return [row[0] for row in cur]

        out = []
        for value in await self._call(query):
            try:
                out.append(RunRecord.loads(value))
            except (ValueError, KeyError):
                continue
        return out

    async def put_archive_stats(self, worker_id: str, mirror_id: str, stats: dict[str, Any],
                                now: float | None = None) -> None:
        value = json.dumps(stats, separators=(",", ":"), ensure_ascii=False)
        when = time.time() if now is None else now
        point = history_point(stats, hour_of(when))
        await self._write([
            (PUT_ARCHIVE, (worker_id, mirror_id, value)),
            (PUT_POINT, (worker_id, mirror_id, point["t"], json.dumps(point, separators=(",", ":")))),
            (TRIM_POINTS, (worker_id, mirror_id, history_cutoff(when))),
        ])

    async def list_archive_history(self, since: int) -> list[HistoryItem]:
        def query() -> list[tuple[str, str, str]]:
            assert self._conn is not None
            return list(self._conn.execute(
                "SELECT worker, mirror, value FROM archive_points WHERE hour >= ? ORDER BY worker, mirror, hour",
                (since,)))

        out: list[HistoryItem] = []
        for w, m, value in await self._call(query):
            try:
                point = json.loads(value)
            except ValueError:
                continue
            if not isinstance(point, dict):
                continue
            if not out or out[-1][:2] != (w, m):
                out.append((w, m, []))
            out[-1][2].append(point)
        return out

    async def list_archive_stats(self) -> list[tuple[str, str, dict[str, Any]]]:
        def query() -> list[tuple[str, str, str]]:
            assert self._conn is not None
            return list(self._conn.execute("SELECT worker, mirror, value FROM archive_stats ORDER BY worker, mirror"))

        out = []
        for w, m, value in await self._call(query):
            try:
                stats = json.loads(value)
            except ValueError:
                continue
            if isinstance(stats, dict):
                out.append((w, m, stats))
        return out

    # --- migration -------------------------------------------------------------------------
    async def import_all(self, workers: Iterable[WorkerStatus], statuses: Iterable[MirrorStatus | StatusItem]) -> None:
        ws = list(workers)
        items = normalise_items(statuses)
        ops: list[Op] = [(PUT_WORKER, (w.id, dump_model(w))) for w in ws]
        ops += [(PUT_STATUS, (wid, mid, dump_model(s))) for wid, mid, s in items]

        def apply() -> None:
            for w in ws:
                self._workers[w.id] = w
            for wid, mid, s in items:
                self._statuses[(wid, mid)] = s

        await self._write(ops, apply)
