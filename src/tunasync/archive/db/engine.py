"""One dedicated database thread per index, with group commit (as the manager's SQLite backend does).

Every statement runs on that thread, on its one connection: the process holds one descriptor set per
index however many threads or tasks use it. Work is a function of `Repos`:

* `read(fn)` runs `fn` alone, in a read transaction (one consistent view of the file);
* `write(fn)` queues `fn`; the thread takes every write queued while it was busy, runs them in ONE
  `BEGIN IMMEDIATE` transaction, each under its own savepoint (a write that raises is undone alone
  and its caller gets the exception), and commits once (synchronous=FULL: durable). A caller's
  `write` returns only after the commit holding its work, so an acknowledged change survives kill -9.

Both block the calling thread (any thread; a call made on the database thread itself runs at once);
`aread`/`awrite` are the awaitable forms for the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from .repository import Repos
from .schema import migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_GROUP = 256  # writes per commit at most (a long group delays its first caller's answer)


READ, WRITE, CALL = 0, 1, 2  # a job's kind; CALL runs with no transaction of its own


class _Job:
    __slots__ = ("fn", "future", "kind")

    def __init__(self, fn: Callable[[Repos], Any], kind: int):
        self.fn = fn
        self.kind = kind
        self.future: Future[Any] = Future()


_STOP = None


class _Counters:
    commits = 0  # write transactions committed (a group counts once)


class Database:
    """The index file's connection and the thread that owns it."""

    def __init__(self, path: str | Path, *, name: str = "archive-db"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        opened: Future[int] = Future()
        self._counters = _Counters()
        self._thread = threading.Thread(target=_serve, args=(str(self.path), self._queue, opened, self._counters),
                                        name=f"{name}:{self.path.parent.name}", daemon=True)
        self._thread.start()
        self.found_version = opened.result()  # raises what opening or migrating raised
        # an index dropped without close() still stops its thread
        self._finalizer = weakref.finalize(self, self._queue.put, _STOP)

    @property
    def commits(self) -> int:
        """Write transactions committed so far (for tests and figures)."""
        return self._counters.commits

    # -- calls ----------------------------------------------------------------------------------
    def _submit(self, fn: Callable[[Repos], T], kind: int) -> Future[T]:
        job = _Job(fn, kind)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.path}: the archive index is closed")
            self._queue.put(job)
        return job.future

    def _here(self) -> bool:
        return threading.current_thread() is self._thread

    def read(self, fn: Callable[[Repos], T]) -> T:
        if self._here():
            return _inline(fn, write=False)
        return self._submit(fn, READ).result()

    def write(self, fn: Callable[[Repos], T]) -> T:
        if self._here():
            return _inline(fn, write=True)
        return self._submit(fn, WRITE).result()

    def submit_write(self, fn: Callable[[Repos], T]) -> Future[T]:
        """`write` without waiting: the future is done once the commit holding `fn` is (a caller
        that streams batches goes on while the previous one is written). Not from the database thread."""
        if self._here():
            raise RuntimeError("submit_write from the database thread would wait for itself")
        return self._submit(fn, WRITE)

    async def aread(self, fn: Callable[[Repos], T]) -> T:
        return await asyncio.wrap_future(self._submit(fn, READ))

    async def awrite(self, fn: Callable[[Repos], T]) -> T:
        return await asyncio.wrap_future(self._submit(fn, WRITE))

    async def acall(self, fn: Callable[[], T]) -> T:
        """Run `fn`, which makes its own read/write calls, on the database thread; await its result."""
        return await asyncio.wrap_future(self._submit(lambda _r: fn(), CALL))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._finalizer.detach()
        if not self._here():
            self._thread.join()


_local = threading.local()


def _inline(fn: Callable[[Repos], T], write: bool) -> T:
    """A read or write made on the database thread: part of the transaction open there, or its own."""
    conn: sqlite3.Connection = _local.conn
    repos: Repos = _local.repos
    if conn.in_transaction:
        return fn(repos)
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        result = fn(repos)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a state change the archive acted on (a delete!) must survive power loss too.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _serve(path: str, jobs: queue.SimpleQueue[_Job | None], opened: Future[int], counters: _Counters) -> None:
    try:
        conn = _connect(path)
        try:
            found = migrate(conn, path)
        except BaseException:
            conn.close()
            raise
    except BaseException as exc:
        opened.set_exception(exc)
        return
    _local.repos = Repos(conn)
    _local.conn = conn
    opened.set_result(found)
    try:
        _loop(conn, jobs, counters)
    finally:
        conn.close()


def _loop(conn: sqlite3.Connection, jobs: queue.SimpleQueue[_Job | None], counters: _Counters) -> None:
    repos: Repos = _local.repos
    held: _Job | None = None
    while True:
        job = held if held is not None else jobs.get()
        held = None
        if job is None:
            return
        if not job.future.set_running_or_notify_cancel():
            continue
        if job.kind != WRITE:
            _run_alone(conn, repos, job)
            continue
        group = [job]
        stop = False
        while len(group) < MAX_GROUP:  # every write queued meanwhile joins this commit
            try:
                nxt = jobs.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                stop = True
                break
            if nxt.kind != WRITE:
                held = nxt
                break
            if nxt.future.set_running_or_notify_cancel():
                group.append(nxt)
        _run_writes(conn, repos, group)
        counters.commits += 1
        if stop:
            return


def _run_alone(conn: sqlite3.Connection, repos: Repos, job: _Job) -> None:
    try:
        if job.kind == CALL:
            result = job.fn(repos)
        else:
            conn.execute("BEGIN")
            try:
                result = job.fn(repos)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
    except BaseException as exc:
        job.future.set_exception(exc)
    else:
        job.future.set_result(result)


def _run_writes(conn: sqlite3.Connection, repos: Repos, group: list[_Job]) -> None:
    results: list[tuple[bool, Any]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
    except BaseException as exc:
        for job in group:
            job.future.set_exception(exc)
        return
    try:
        for job in group:
            conn.execute("SAVEPOINT job")
            try:
                results.append((True, job.fn(repos)))
            except BaseException as exc:
                conn.execute("ROLLBACK TO job")
                results.append((False, exc))
            conn.execute("RELEASE job")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        for job in group:
            job.future.set_exception(exc)
        return
    for job, (ok, value) in zip(group, results, strict=True):
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
