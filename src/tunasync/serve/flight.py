"""Single flight: one network retrieval per (mirror, path), however many clients ask at once.

A `Flight` owns the partial file its retrieval writes. `written` is how many bytes from the start are
verified *and* on disk; every client — the first, and any that join later — streams from that file up
to `written` and waits for more (`follow`), so all of them get the same verified bytes as they arrive.
The retrieval itself is a task of the registry, not of any request: a client that goes away does not
stop it unless the policy says `cancel` and it was the last one.

The file descriptor is closed only on the event loop, after the flight left the registry, so a client
can never duplicate a descriptor that was closed (or reused) under it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from ..fsutil import pwritev_all
from .partial import Partial, discard
from .policy import RetrievalFailed

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (tree name, mirror-relative path)
MAX_BACKLOG = 64 << 20  # verified bytes allowed to wait for the disk before the retrieval waits too


class Flight:
    def __init__(self, key: Key, size: int, partial: Partial, detached: bool = False):
        self.key = key
        self.size = size
        self.partial = partial
        self.detached = detached  # a background fill: never cancelled because clients left
        self.written = 0
        self.done = False
        self.error: RetrievalFailed | None = None
        self.readers = 0
        self.task: asyncio.Task[Any] | None = None
        self._queued = 0  # bytes handed to write(): the file's length once every write is done
        self._batch: list[bytes] = []
        self._pending: asyncio.Future[None] | None = None
        self._write_error: OSError | None = None
        self._event = asyncio.Event()

    # -- the writer side (the retrieval task) ----------------------------------------------------
    # Writes run in a thread, one at a time; chunks that arrive meanwhile go out together in the next
    # `pwritev` (so a slow disk means bigger writes, not a longer queue of thread hops).
    async def write(self, chunk: bytes) -> None:
        """Append verified bytes (returns at once unless MAX_BACKLOG bytes wait for the disk)."""
        if self._write_error is not None:
            raise self._write_error
        self._batch.append(chunk)
        self._queued += len(chunk)
        if self._pending is None:
            self._start_write()
        while self._queued - self.written > MAX_BACKLOG and self._write_error is None:
            await self._event.wait()

    def _start_write(self) -> None:
        batch, self._batch = self._batch, []
        offset = self._queued - sum(len(b) for b in batch)
        self._pending = asyncio.ensure_future(asyncio.to_thread(pwritev_all, self.partial.fd, batch, offset))
        self._pending.add_done_callback(lambda fut: self._written(fut, offset + sum(len(b) for b in batch)))

    def _written(self, fut: asyncio.Future[None], end: int) -> None:
        self._pending = None
        if fut.cancelled() or fut.exception() is not None:
            self._write_error = OSError(f"{self.partial.path}: {fut.exception() if not fut.cancelled() else 'cancelled'}")
            self._wake()
            return
        self._advance(end)
        if self._batch and self._write_error is None:
            self._start_write()

    async def flush(self) -> None:
        """Until every appended byte is on disk (OSError if a write failed)."""
        while (self._pending is not None or self._batch) and self._write_error is None:
            await self._event.wait()
        if self._write_error is not None:
            raise self._write_error

    async def settle(self) -> None:
        """Wait for a write still in a thread (after a failure): the descriptor must outlive it."""
        self._batch = []
        while self._pending is not None:
            await asyncio.wait([self._pending])
            await asyncio.sleep(0)  # let its done-callback run

    def _advance(self, n: int) -> None:
        self.written = n
        self._wake()

    def _wake(self) -> None:
        ev, self._event = self._event, asyncio.Event()
        ev.set()

    def succeed(self) -> None:
        self.done = True
        self._wake()

    def fail(self, error: RetrievalFailed) -> None:
        self.error = error
        self._wake()

    @property
    def running(self) -> bool:
        return not self.done and self.error is None

    # -- the reader side (clients) ---------------------------------------------------------------
    def reader(self) -> io.FileIO:
        """A file object on the partial's inode for this client (it stays valid after the rename)."""
        return io.FileIO(os.dup(self.partial.fd), "rb", closefd=True)

    async def wait_for(self, offset: int) -> None:
        """Until a byte at `offset` is verified (or the file is complete); RetrievalFailed if it fails."""
        while self.written <= offset:
            if self.error is not None:
                raise self.error
            if self.done:
                return
            await self._event.wait()

    async def follow(self, start: int, end: int) -> AsyncIterator[tuple[int, int]]:
        """(offset, length) pieces of [start, end) as they become verified, in order."""
        pos = start
        while pos < end:
            avail = min(self.written, end)
            if avail > pos:
                yield pos, avail - pos
                pos = avail
                continue
            if self.error is not None:
                raise self.error
            if self.done:
                raise RetrievalFailed(502, "error", f"retrieval ended at byte {self.written} of {end}")
            await self._event.wait()


class Flights:
    """The registry: running flights by key, and finished ones still being streamed (pinned)."""

    def __init__(self, on_disconnect: str = "continue",
                 on_released: Callable[[str], Coroutine[Any, Any, None]] | None = None):
        self.on_disconnect = on_disconnect
        self.on_released = on_released
        self._running: dict[Key, Flight] = {}
        self._streaming: dict[Key, Flight] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def get(self, key: Key) -> Flight | None:
        return self._running.get(key)

    def start(self, flight: Flight, run: Callable[[Flight], Awaitable[None]]) -> Flight:
        """Register `flight` and start its retrieval."""
        assert flight.key not in self._running
        self._running[flight.key] = flight
        flight.task = asyncio.create_task(self._run(flight, run), name=f"retrieve {flight.key[0]}/{flight.key[1]}")
        return flight

    def attach(self, flight: Flight) -> io.FileIO:
        """A new client of a flight got from `get`/`start` *without an await since*: its reader (close it,
        then `detach`)."""
        reader = flight.reader()
        flight.readers += 1
        return reader

    def detach(self, flight: Flight) -> None:
        flight.readers -= 1
        if flight.readers > 0:
            return
        # Only a client that left early stops it: once every byte is verified, finishing costs nothing.
        if (flight.running and flight.written < flight.size and self.on_disconnect == "cancel"
                and not flight.detached and flight.task is not None):
            log.info("serve: %s/%s: last client left, retrieval cancelled (--on-disconnect cancel)", *flight.key)
            flight.task.cancel()
        elif self._streaming.get(flight.key) is flight:
            del self._streaming[flight.key]
            self._notify(flight.key[0])

    def pinned(self, tree: str) -> set[str]:
        """Paths of `tree` that a cache budget must not touch right now."""
        keys = list(self._running) + list(self._streaming)
        return {path for name, path in keys if name == tree}

    async def _run(self, flight: Flight, run: Callable[[Flight], Awaitable[None]]) -> None:
        try:
            await run(flight)
        except asyncio.CancelledError:
            if flight.error is None:
                flight.fail(RetrievalFailed(503, "cancelled", "retrieval cancelled"))
        except RetrievalFailed as exc:
            flight.fail(exc)
        except Exception as exc:
            log.exception("serve: retrieval of %s/%s failed", *flight.key)
            flight.fail(RetrievalFailed(500, "error", f"{type(exc).__name__}: {exc}"))
        finally:
            # A cancel (shutdown) arriving while the flight winds down must not skip removing its partial.
            ending = asyncio.ensure_future(self._end(flight))
            try:
                await asyncio.shield(ending)
            except asyncio.CancelledError:
                await asyncio.wait([ending])
                raise

    async def _end(self, flight: Flight) -> None:
        await flight.settle()
        if self._running.get(flight.key) is flight:
            del self._running[flight.key]
        if not flight.done and flight.error is None:
            flight.fail(RetrievalFailed(502, "error", "retrieval stopped"))
        os.close(flight.partial.fd)  # on the loop, after leaving the registry: no dup() can race it
        await asyncio.to_thread(discard, flight.partial)  # gone already when it was placed
        if flight.readers > 0 and flight.done:
            self._streaming[flight.key] = flight
        self._notify(flight.key[0])

    def _notify(self, tree: str) -> None:
        if self.on_released is not None:
            task = asyncio.create_task(self.on_released(tree))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel every retrieval (shutdown); their partial files are removed."""
        flights = list(self._running.values())
        for f in flights:
            if f.task is not None:
                f.task.cancel()
        await asyncio.gather(*(f.task for f in flights if f.task is not None), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
