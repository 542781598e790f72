"""The `tunasync serve` HTTP application: routing a request to a file on disk, an evicted file, a
directory page, a staged CAR (`/piece/{pieceCid}`) or `/metrics`; and its startup and shutdown.

    GET|HEAD /<path>                 --root DIR: one tree
    GET|HEAD /<mirror>/<path>        -c worker.conf: every mirror; evicted files retrieved on demand
    GET|HEAD /piece/{pieceCid}       -c: our staged CARs, for storage providers
    GET      /metrics                Prometheus
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiohttp import web

from ..archive.cache import AccessLog, enforce_budget
from ..archive.context import ArchiveCtx
from ..archive.states import FileState
from ..filecoin.piece_server import add_piece_routes
from ..httpguard import GuardedSite, Limits
from ..metrics import add_metrics_route
from . import listing
from .evicted import EvictedFiles
from .files import send_local
from .flight import Flights
from .metrics import ServeMetrics
from .pages import common_headers, html_page, page, redirect
from .paths import BadPath, RequestPath, Target, open_beneath, parse_path
from .policy import RetrievalFailed, ServePolicy
from .retrieval import NetworkHandle
from .trees import Tree, piece_lookup

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0  # how often batched last-access times reach the index
SERVE_KEY = web.AppKey("tunasync_serve", object)
SERVE_LIMITS = Limits(max_connections=4096, header_timeout=60.0, keepalive_timeout=75.0)


class Server:
    """Everything one serve process shares: the trees, the flights, the network, the metrics."""

    def __init__(self, trees: list[Tree], *, mirrors: bool, policy: ServePolicy | None = None,
                 network: NetworkHandle | None = None, metrics: ServeMetrics | None = None,
                 spool_dir: str | None = None):
        self.trees = {t.name: t for t in trees}
        self.mirrors = mirrors  # True: /<mirror>/... (serve -c); False: one tree at /
        self.policy = policy or ServePolicy()
        self.network = network or NetworkHandle()
        self.metrics = metrics or ServeMetrics()
        self.flights = Flights(self.policy.on_disconnect, on_released=self.enforce_budget)
        self.evicted = EvictedFiles(self.flights, self.network, self.policy, self.metrics, spool_dir)
        self._flusher: asyncio.Task[None] | None = None

    # -- the application -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app[SERVE_KEY] = self
        app.on_response_prepare.append(common_headers)
        add_metrics_route(app, self.metrics.registry)
        if self.mirrors and any(t.archive is not None for t in self.trees.values()):
            add_piece_routes(app, piece_lookup(list(self.trees.values())))
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="serve access flush")
        for t in self.trees.values():
            if t.archive is not None:
                await self.enforce_budget(t.name)

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flights.close()
        for t in self.trees.values():
            await self._flush(t)
            if t.index is not None:
                await asyncio.to_thread(t.index.close)
        await self.network.close()

    # -- requests --------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return page(405, f"{request.method} is not served here", {"Allow": "GET, HEAD"})
        try:
            rp = parse_path(request.raw_path)
        except BadPath as exc:
            self.metrics.requests.labels("error").inc()
            return page(400, f"bad path: {exc}")
        if not self.mirrors:
            return await self._in_tree(request, self.trees[""], rp, rp)
        if not rp.segments:
            return await self._mirror_index(request)
        tree = self.trees.get(rp.segments[0])
        if tree is None:
            return page(404)
        return await self._in_tree(request, tree, RequestPath(rp.segments[1:], rp.trailing_slash), rp)

    async def _mirror_index(self, request: web.Request) -> web.StreamResponse:
        entries = [listing.Entry(name, True) for name in sorted(self.trees)]
        self.metrics.requests.labels("listing").inc()
        return html_page(listing.render("/", entries, parent=False))

    async def _in_tree(self, request: web.Request, tree: Tree, rp: RequestPath, full: RequestPath,
                       ) -> web.StreamResponse:
        for _ in range(3):  # a file may leave or reach the disk between our looks: look again
            target = await _open(tree.root, rp.segments)
            if target.kind == "file":
                assert target.fd is not None and target.st is not None
                if rp.trailing_slash:
                    os.close(target.fd)
                    return page(404)
                return await self._local(request, tree, target, rp)
            if target.kind == "dir":
                if not rp.trailing_slash:
                    return redirect(_path_of(request) + "/" + _query_of(request))
                return await self._directory(request, tree, rp, full, target)
            if target.kind == "outside":
                log.info("serve: %s resolves outside %s; refused", request.path, tree.root)
                return page(404)
            if target.kind == "special":
                return page(403)
            answer = await self._missing(request, tree, rp, full, target)
            if answer is not None:
                return answer
        return page(404)

    async def _local(self, request: web.Request, tree: Tree, target: Target, rp: RequestPath) -> web.StreamResponse:
        assert target.fd is not None and target.st is not None
        self.metrics.requests.labels("file").inc()
        if tree.index is not None and request.method == "GET":
            tree.access.record(target.rel)
        return await send_local(request, target.fd, target.st, rp.segments[-1] if rp.segments else "")

    async def _directory(self, request: web.Request, tree: Tree, rp: RequestPath, full: RequestPath,
                         target: Target) -> web.StreamResponse:
        index_page = await _open(tree.root, (*rp.segments, "index.html"))
        if index_page.kind == "file":
            return await self._local(request, tree, index_page, RequestPath((*rp.segments, "index.html"), False))
        index = await asyncio.to_thread(tree.index.get) if tree.index is not None else None
        entries = await asyncio.to_thread(listing.collect, target.real, index, target.rel, tree.root)
        self.metrics.requests.labels("listing").inc()
        return html_page(listing.render("/" + full.rel + ("/" if full.rel else ""), entries,
                                        parent=bool(full.segments)))

    async def _missing(self, request: web.Request, tree: Tree, rp: RequestPath, full: RequestPath,
                       target: Target) -> web.StreamResponse | None:
        """Not on disk: an evicted file, a directory only the index knows, or 404. None: look again."""
        index = await asyncio.to_thread(tree.index.get) if tree.index is not None else None
        if index is None or not target.rel:
            return page(404)
        rec = await index.call(index.get, target.rel)
        if rec is None or rec.deleted:  # perhaps a directory whose files are all evicted, and it is gone
            if not await asyncio.to_thread(listing.evicted_entries, index, target.rel, 1):
                return page(404)
            if not rp.trailing_slash:
                return redirect(_path_of(request) + "/" + _query_of(request))
            entries = await asyncio.to_thread(listing.collect, target.real, index, target.rel, tree.root)
            self.metrics.requests.labels("listing").inc()
            return html_page(listing.render("/" + full.rel + "/", entries))
        if rec.state is not FileState.EVICTED:
            await asyncio.sleep(0.05)  # on its way to or from the disk: look at the disk again
            return None
        if rp.trailing_slash or not rec.cid:
            return page(404)
        self.metrics.requests.labels("evicted").inc()
        return await self.evicted.serve(request, tree, index, rec, rp.segments[-1])

    # -- the cache budget --------------------------------------------------------------------------
    async def enforce_budget(self, name: str) -> None:
        """Return least recently used cached files of `name` to evicted while over its cache_budget."""
        tree = self.trees.get(name)
        if tree is None or tree.archive is None or tree.index is None or tree.archive.cache_budget is None:
            return
        async with tree.lock:
            index = await asyncio.to_thread(tree.index.get)
            if index is None:
                return
            await self._flush(tree)
            try:
                net = await self.network.get()
            except RetrievalFailed as exc:  # no copy can be checked now: over budget is safe, a loss is not
                log.warning("serve: cache budget of %s waits for the network: %s", name, exc)
                return
            try:
                ctx = ArchiveCtx(tree.archive, index, net=net)
                done = await enforce_budget(ctx, tree.archive.cache_budget, self.flights.pinned(name))
            except Exception:
                log.exception("serve: cache budget of %s failed", name)
                return
            n = sum(1 for o in done if o.evicted)
            if n:
                self.metrics.cache_evictions.inc(n)
                log.info("serve: cache budget of %s: %d file(s) back to evicted", name, n)

    async def _flush(self, tree: Tree) -> None:
        if tree.index is None or not len(tree.access):
            return
        index = await asyncio.to_thread(tree.index.get)
        if index is not None:
            seen = tree.access.take()
            try:
                await asyncio.to_thread(AccessLog.write, index, seen)
            except Exception:
                log.exception("serve: recording access times of %s failed", tree.label)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            for t in self.trees.values():
                await self._flush(t)


async def _open(root: str, segments: tuple[str, ...]) -> Target:
    """open_beneath in a thread; a request cancelled meanwhile (its client left) closes what it opened."""
    fut = asyncio.ensure_future(asyncio.to_thread(open_beneath, root, segments))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        fut.add_done_callback(_close_target)
        raise


def _close_target(fut: asyncio.Future[Target]) -> None:
    if not fut.cancelled() and fut.exception() is None:
        fd = fut.result().fd
        if fd is not None:
            os.close(fd)


def _path_of(request: web.Request) -> str:
    """The request's path as sent (still percent-encoded), runs of slashes made one: `//a//b` → `/a/b`."""
    return "/" + "/".join(s for s in request.raw_path.split("?", 1)[0].split("/") if s)


def _query_of(request: web.Request) -> str:
    q = request.raw_path.partition("?")[2]
    return f"?{q}" if q else ""


async def start(server: Server, host: str, port: int, limits: Limits | None = None) -> tuple[web.AppRunner, int]:
    """Listen on host:port (0 = any free port); the runner (`await runner.cleanup()` stops) and the port.
    `limits`: connection cap and timeouts (httpguard; serve's defaults when None)."""
    limits = limits or SERVE_LIMITS
    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True, shutdown_timeout=10.0,
                           **limits.runner_kwargs())
    await runner.setup()
    site = GuardedSite(runner, host, port, limits=limits, name="tunasync serve", backlog=4096, reuse_address=True)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site.bound_port

