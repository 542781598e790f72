"""Serving an evicted file: from the index (HEAD, 304, 412, 416: no retrieval), from the single
flight that retrieves it into the cache (GET), or from a ranged retrieval (`Range`, answered at once).

Headers go out only once the first verified byte is there, so a retrieval that fails before that is a
502/504 page; one that fails later drops the connection (a client never sees a clean short body).
A completed retrieval is placed under its final name (mtime restored), recorded `cached`, and the
cache budget is enforced (never on files still being streamed).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time

from aiohttp import web

from ..archive.index import ArchiveIndex, FileRecord
from ..archive.shadow import drop, shadow_beside
from ..fsutil import unlink_if
from .conditional import Plan, Validators, plan
from .files import abort, response_for, send_range
from .flight import Flight, Flights
from .metrics import ServeMetrics
from .pages import page
from .partial import Partial, discard, open_partial, place
from .policy import BUSY_RETRY_AFTER, RetrievalFailed, ServePolicy
from .retrieval import NetworkHandle, pump, verified
from .trees import Tree

log = logging.getLogger(__name__)

SOURCE = "X-Tunasync-Source"  # "archive": answered by tunasync serve from the archive tier


class EvictedFiles:
    def __init__(self, flights: Flights, network: NetworkHandle, policy: ServePolicy, metrics: ServeMetrics,
                 spool_dir: str | None = None):
        self.flights = flights
        self.network = network
        self.policy = policy
        self.metrics = metrics
        self.spool_dir = spool_dir
        self.running = 0  # network retrievals running now (whole-file, ranged, background fills)
        self.filling = 0  # of which background fills

    async def serve(self, request: web.Request, tree: Tree, index: ArchiveIndex, rec: FileRecord,
                    name: str) -> web.StreamResponse | None:
        """The answer for an evicted file; None when it appeared on disk meanwhile (serve it from there)."""
        p = plan(request.method, request.headers, Validators(rec.size, rec.mtime_ns))
        extra = {SOURCE: "archive"}
        if request.method == "HEAD" or not p.has_body:
            resp = response_for(p, name, extra)
            await resp.prepare(request)
            await resp.write_eof()
            return resp
        key = (tree.name, rec.path)
        flight = self.flights.get(key)
        # A Range may cost a whole-file retrieval (a fill) only for files up to range_fill_max.
        fillable = self.policy.range_fill and rec.size <= self.policy.range_fill_max
        full = p.status == 200 or (
            p.start <= (flight.written if flight is not None else 0) + self.policy.join_ahead
            and (flight is not None or fillable))
        if not full:
            if flight is None and fillable:
                try:
                    await self._join_or_start(tree, index, rec, attach=False)
                except RetrievalFailed:  # no slot for a fill: the range is answered anyway
                    pass
            return await self._ranged(request, index, rec, p, name, extra)
        if flight is not None:
            reader = self.flights.attach(flight)  # no await since get(): it cannot have closed meanwhile
            self.metrics.joins.inc()
        else:
            try:
                joined = await self._join_or_start(tree, index, rec, attach=True)
            except RetrievalFailed as exc:
                return self._busy(exc, extra)
            if joined is None:
                return None
            flight, reader = joined
        try:
            return await self._follow(request, flight, reader, p, name, extra)
        finally:
            reader.close()
            self.flights.detach(flight)

    async def _join_or_start(self, tree: Tree, index: ArchiveIndex, rec: FileRecord,
                             attach: bool) -> tuple[Flight, io.FileIO] | None:
        """The running flight for the file or a new one, with this client's reader when it `attach`es;
        None when the file is on disk by now (or, detached, when a retrieval already runs)."""
        key = (tree.name, rec.path)
        final = os.path.join(tree.root, rec.path)
        if await asyncio.to_thread(os.path.lexists, final):
            return None
        opening = asyncio.ensure_future(asyncio.to_thread(open_partial, final, self.spool_dir))
        try:
            partial = await asyncio.shield(opening)
        except asyncio.CancelledError:  # the client left: whatever was opened goes again
            opening.add_done_callback(_drop_partial)
            raise
        running = self.flights.get(key)  # someone else started one while we opened ours
        if running is not None:
            joined = (running, self.flights.attach(running)) if attach else None
            if attach:
                self.metrics.joins.inc()
            os.close(partial.fd)
            await asyncio.to_thread(discard, partial)
            return joined
        fill = not attach
        if not self._take(fill):
            os.close(partial.fd)
            await asyncio.to_thread(discard, partial)
            raise RetrievalFailed(503, "busy", self._busy_reason(fill))
        flight = Flight(key, rec.size, partial, detached=fill)

        async def run(f: Flight) -> None:
            await self._retrieve(f, tree, index, rec)

        self.flights.start(flight, run)
        assert flight.task is not None
        flight.task.add_done_callback(lambda _t: self._give(fill))
        return (flight, self.flights.attach(flight)) if attach else None

    # -- retrieval slots: how many network retrievals may run at once --------------------------------
    def _take(self, fill: bool) -> bool:
        if self.running >= self.policy.max_retrievals:
            return False
        if fill and self.filling >= self.policy.max_range_fills:
            return False
        self.running += 1
        self.filling += fill
        return True

    def _give(self, fill: bool) -> None:
        self.running -= 1
        self.filling -= fill

    def _busy_reason(self, fill: bool) -> str:
        if fill and self.running < self.policy.max_retrievals:
            return f"{self.filling} background fills are running (--max-range-fills {self.policy.max_range_fills})"
        return (f"{self.running} retrievals from the archive are running (--max-retrievals "
                f"{self.policy.max_retrievals}); try again in a few seconds")

    def _busy(self, exc: RetrievalFailed, extra: dict[str, str]) -> web.Response:
        self.metrics.requests.labels("busy").inc()
        return page(exc.status, exc.reason, {**extra, "Retry-After": str(BUSY_RETRY_AFTER)})

    async def _retrieve(self, flight: Flight, tree: Tree, index: ArchiveIndex, rec: FileRecord) -> None:
        started = time.monotonic()
        what = f"{tree.label}/{rec.path} ({rec.cid})"
        self.metrics.in_flight.inc()
        try:
            await pump(verified(self.network, index, rec), flight.write, self.policy.retrieve_timeout, what)
            await flight.flush()
            if flight.written != rec.size:
                raise RetrievalFailed(502, "verify_failed",
                                      f"{what}: {flight.written} verified bytes, the index says {rec.size}")
            # Placing the file and recording it are one step in a thread: a cancel (shutdown) must not
            # leave a placed file the index does not know. The descriptor outlives the thread.
            done = asyncio.ensure_future(asyncio.to_thread(_into_cache, flight.partial, index, rec))
            try:
                kept = await asyncio.shield(done)
            except asyncio.CancelledError:
                await asyncio.wait([done])
                raise
            if kept is False:
                log.info("serve: %s changed in the index during retrieval; retrieved copy removed", what)
        except RetrievalFailed as exc:
            log.warning("serve: retrieval failed (%s): %s", exc.result, exc.reason)
            self.metrics.retrieval.observe(exc.result, time.monotonic() - started)
            raise
        except asyncio.CancelledError:
            self.metrics.retrieval.observe("cancelled", time.monotonic() - started)
            raise
        finally:
            self.metrics.in_flight.dec()
        self.metrics.retrieval.observe("ok", time.monotonic() - started, rec.size)
        log.info("serve: retrieved %s, %d bytes verified in %.2f s", what, rec.size, time.monotonic() - started)
        flight.succeed()

    async def _follow(self, request: web.Request, flight: Flight, reader: io.FileIO, p: Plan, name: str,
                      extra: dict[str, str]) -> web.StreamResponse:
        try:
            await flight.wait_for(p.start)
        except RetrievalFailed as exc:
            return page(exc.status, exc.reason, extra)
        resp = response_for(p, name, extra)
        await resp.prepare(request)
        try:
            async for off, n in flight.follow(p.start, p.end):
                await send_range(request, resp, reader, off, n)
        except RetrievalFailed:
            abort(request)
            return resp
        await resp.write_eof()
        return resp

    async def _ranged(self, request: web.Request, index: ArchiveIndex, rec: FileRecord, p: Plan, name: str,
                      extra: dict[str, str]) -> web.StreamResponse:
        resp = response_for(p, name, extra)

        async def sink(chunk: bytes) -> None:
            if not resp.prepared:
                await resp.prepare(request)
            await resp.write(chunk)

        what = f"bytes {p.start}-{p.end - 1} of {rec.path} ({rec.cid})"
        if not self._take(False):
            self.metrics.range_retrievals.labels("busy").inc()
            return self._busy(RetrievalFailed(503, "busy", self._busy_reason(False)), extra)
        try:
            n = await pump(verified(self.network, index, rec, (p.start, p.end - 1)), sink,
                           self.policy.retrieve_timeout, what)
            if n != p.length:
                raise RetrievalFailed(502, "verify_failed", f"{what}: {n} verified bytes, expected {p.length}")
        except RetrievalFailed as exc:
            self.metrics.range_retrievals.labels(exc.result).inc()
            log.warning("serve: ranged retrieval failed (%s): %s", exc.result, exc.reason)
            if not resp.prepared:
                return page(exc.status, exc.reason, extra)
            abort(request)
            return resp
        finally:
            self._give(False)
        self.metrics.range_retrievals.labels("ok").inc()
        await resp.write_eof()
        return resp


def _into_cache(partial: Partial, index: ArchiveIndex, rec: FileRecord) -> bool | None:
    """Place the verified file and record it `cached`; None when nothing was placed (something is there
    already, or the tree is not writable), False when the index no longer wants it (removed again).
    The file's placeholder goes first: rsync must never see both (archive/shadow.py)."""
    drop(shadow_beside(index.path), rec.path)
    inode = place(partial, rec.mtime_ns)
    if inode is None:
        return None
    if index.mark_cached(rec.path, inode):
        return True
    unlink_if(partial.final, inode)
    return False


def _drop_partial(fut: asyncio.Future[Partial]) -> None:
    if not fut.cancelled() and fut.exception() is None:
        os.close(fut.result().fd)
        discard(fut.result())
