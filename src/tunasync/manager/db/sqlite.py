"""SQLite backend: WAL, fsync'd commits, Go JSON values, all sqlite calls on one dedicated thread.

Workers and statuses are small (thousands of records), so they are read once at open and served
from memory; this process is their only writer. Writes are group-committed: every write queued
while a commit is in flight goes into the next transaction, and a caller's `await` returns only
after the commit holding its write is durable (synchronous=FULL), so an acknowledged update
survives kill -9 and power loss.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...models import MirrorStatus, WorkerStatus
from .base import (
    Database,
    RunRecord,
    StatusItem,
    dump_model,
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
"""

SqlFn = Callable[[sqlite3.Connection], Any]


class SqliteDatabase(Database):
    def __init__(self, path: str):
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunasync-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._workers: dict[str, WorkerStatus] = {}
        self._statuses: dict[tuple[str, str], MirrorStatus] = {}
        self._pending: list[tuple[SqlFn, Callable[[], None] | None, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        db = cls(path)
        await db._call(db._open_sync)
        return db

    def _open_sync(self) -> None:
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
        if self._drainer is not None:
            await asyncio.shield(self._drainer)
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._pool.shutdown(wait=True)

    # --- plumbing --------------------------------------------------------------------------
    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _write(self, fn: SqlFn, apply: Callable[[], None] | None = None) -> Any:
        """Queue `fn` for the next transaction; `apply` updates the memory view after the commit."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, apply, fut))
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._call(self._commit_batch, [fn for fn, _, _ in batch])
                except BaseException as exc:  # the commit itself failed: nobody's write is durable
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, apply, fut), (ok, value) in zip(batch, results, strict=True):
                    if ok and apply is not None:
                        apply()
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._drainer = None

    def _commit_batch(self, fns: list[SqlFn]) -> list[tuple[bool, Any]]:
        conn = self._conn
        assert conn is not None, "database is closed"
        out: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn in fns:
                # A savepoint per write: one failing write must not undo its neighbours.
                conn.execute("SAVEPOINT w")
                try:
                    out.append((True, fn(conn)))
                    conn.execute("RELEASE w")
                except Exception as exc:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    out.append((False, exc))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return out

    # --- workers ---------------------------------------------------------------------------
    async def get_worker(self, worker_id: str) -> WorkerStatus:
        try:
            return self._workers[worker_id]
        except KeyError:
            raise worker_not_found(worker_id) from None

    async def list_workers(self) -> list[WorkerStatus]:
        return list(self._workers.values())

    async def create_worker(self, w: WorkerStatus) -> WorkerStatus:
        value = dump_model(w)
        await self._write(
            lambda c: c.execute("INSERT OR REPLACE INTO workers (id, value) VALUES (?, ?)", (w.id, value)),
            lambda: self._workers.__setitem__(w.id, w),
        )
        return w

    async def delete_worker(self, worker_id: str) -> None:
        if worker_id not in self._workers:
            raise worker_not_found(worker_id)
        await self._write(
            lambda c: c.execute("DELETE FROM workers WHERE id = ?", (worker_id,)),
            lambda: self._workers.pop(worker_id, None),
        )

    # --- statuses --------------------------------------------------------------------------
    async def get_mirror_status(self, worker_id: str, mirror_id: str) -> MirrorStatus:
        try:
            return self._statuses[(worker_id, mirror_id)]
        except KeyError:
            raise status_not_found(worker_id, mirror_id) from None

    async def update_mirror_status(self, worker_id: str, mirror_id: str, s: MirrorStatus) -> MirrorStatus:
        value = dump_model(s)
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO mirror_status (worker, mirror, value) VALUES (?, ?, ?)",
                (worker_id, mirror_id, value),
            ),
            lambda: self._statuses.__setitem__((worker_id, mirror_id), s),
        )
        return s

    async def list_mirror_status_items(self) -> list[StatusItem]:
        return [(w, m, s) for (w, m), s in self._statuses.items()]

    async def list_mirror_status(self, worker_id: str) -> list[MirrorStatus]:
        return [s for (w, _m), s in self._statuses.items() if w == worker_id]

    async def flush_disabled_jobs(self) -> list[tuple[str, str]]:
        victims = [key for key, s in self._statuses.items() if should_flush(s)]

        def delete(c: sqlite3.Connection) -> None:
            c.executemany("DELETE FROM mirror_status WHERE worker = ? AND mirror = ?", victims)

        def forget() -> None:
            for key in victims:
                self._statuses.pop(key, None)

        await self._write(delete, forget)
        return victims

    # --- history and archive figures ------------------------------------------------------
    async def add_run(self, worker_id: str, mirror_id: str, run: RunRecord, keep: int) -> None:
        value = run.dumps()

        def add(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO runs (worker, mirror, value) VALUES (?, ?, ?)", (worker_id, mirror_id, value))
            c.execute(
                "DELETE FROM runs WHERE worker = ? AND mirror = ? AND seq NOT IN "
                "(SELECT seq FROM runs WHERE worker = ? AND mirror = ? ORDER BY seq DESC LIMIT ?)",
                (worker_id, mirror_id, worker_id, mirror_id, keep),
            )

        await self._write(add)

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

    async def put_archive_stats(self, worker_id: str, mirror_id: str, stats: dict[str, Any]) -> None:
        value = json.dumps(stats, separators=(",", ":"), ensure_ascii=False)
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO archive_stats (worker, mirror, value) VALUES (?, ?, ?)",
                (worker_id, mirror_id, value),
            )
        )

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
        wrows = [(w.id, dump_model(w)) for w in ws]
        srows = [(wid, mid, dump_model(s)) for wid, mid, s in items]

        def put(c: sqlite3.Connection) -> None:
            c.executemany("INSERT OR REPLACE INTO workers (id, value) VALUES (?, ?)", wrows)
            c.executemany("INSERT OR REPLACE INTO mirror_status (worker, mirror, value) VALUES (?, ?, ?)", srows)

        def apply() -> None:
            for w in ws:
                self._workers[w.id] = w
            for wid, mid, s in items:
                self._statuses[(wid, mid)] = s

        await self._write(put, apply)
