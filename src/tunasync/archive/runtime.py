"""The archive tier of one process, opened once: `open_archive(setup)`.

    async with open_archive(setup) as rt:        # CLI (`tunasync archive`), worker, `tunasync serve -c`
        async with rt.run("debian") as ctx:      # one archive run: waits for a slot of the limit
            await pipeline.run(ctx)

What it holds, one of each per process:
- the network (`await rt.network()`, opened on first use from the validated `[archive]` section);
- the loopback piece server (`await rt.piece_base()`: started on first use when `piece_url` is unset;
  it offers the staged CARs of every mirror of the setup, reloads included);
- the indexes (`rt.index(name)` opens, creating; `rt.index_handle(name)` waits for the file to exist,
  which is what serve needs while the worker has not written one yet);
- ONE limit on concurrent archive runs across mirrors (`[archive] max_runs`), so several mirrors that
  finish their syncs together queue instead of hashing all at once;
- the executors archive work runs on, never the event loop's default one (the job path's short
  `to_thread` calls must not wait behind a scan or a hash run that takes minutes):
  `rt.executor` for blocking steps (scans, packing, CommP, the exclude list; `ArchiveCtx.to_thread` and
  `rt.to_thread` use it; a single index call goes to the index's own database thread,
  `ArchiveIndex.call`), and `rt.hash_pool` for the file-hashing workers (`hash_pending(pool=...)`).
  Code that does blocking archive work takes them from the `ArchiveCtx` it is given (`ctx.to_thread`,
  `ctx.executor`, `ctx.hash_pool`).

`reconfigure(setup)` takes a reloaded config: when the `[archive]` section changed, the network is
reopened (the old one is closed once the runs still using it end) and the limit takes the new
`max_runs`; new mirrors get their index on first use.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from ..content.chunker import hash_threads
from ..errors import ArchiveError, ConfigError
from ..filecoin.http import HttpSettings
from ..filecoin.interfaces import FilecoinNetwork
from ..filecoin.network import open_devnet, open_filecoin
from .config import DEFAULT_DEVNET_URL, ArchiveConfig
from .context import ArchiveCtx, Progress, no_progress
from .crash import Crash, no_crash
from .index import ArchiveIndex
from .pieces import PieceServer
from .settings import ArchiveSetup, MirrorArchive

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


async def open_network(section: ArchiveConfig, file: str = "", settings: HttpSettings | None = None,
                       scratch_dir: Path | None = None) -> FilecoinNetwork:
    """The network an `[archive]` section describes: the devnet at devnet_url, or the real endpoints."""
    if section.network == "devnet":
        return await open_devnet(section.devnet_url or DEFAULT_DEVNET_URL, settings, scratch_dir,
                                 section.reorder_buffer)
    if not section.lotus_url:
        raise ConfigError(file or None, "archive.lotus_url",
                          "required when network = filecoin (e.g. https://api.node.glif.io/rpc/v1)")
    return await open_filecoin(section.lotus_url, lotus_token=section.lotus_token, ipni_url=section.ipni_url,
                               singularity_url=section.singularity_url, providers=section.providers,
                               gateways=section.gateways, settings=settings, scratch_dir=scratch_dir,
                               reorder_limit=section.reorder_buffer)


class IndexHandle:
    """One mirror's index, opened once. `open()` creates it (worker, CLI); `get()` opens it only once
    its file exists, looking again every RECHECK seconds (serve starts before the worker wrote it).
    Blocking: call from a thread, or where a short SQLite open is acceptable."""

    RECHECK = 5.0

    def __init__(self, ms: MirrorArchive):
        self.ms = ms
        self.path = ms.index_path
        self._index: ArchiveIndex | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def open(self) -> ArchiveIndex:
        with self._lock:
            if self._index is None:
                self.ms.ensure_dirs()
                self._index = ArchiveIndex(self.path)
            return self._index

    def get(self) -> ArchiveIndex | None:
        if self._index is not None:
            return self._index
        with self._lock:
            now = time.monotonic()
            if self._index is None and now - self._checked >= self.RECHECK:
                self._checked = now
                if self.path.is_file():
                    self._index = ArchiveIndex(self.path)
            return self._index

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None


class _NetSlot:
    """One opened network and the runs using it (a reload closes it only when they are done)."""

    def __init__(self, net: FilecoinNetwork):
        self.net = net
        self.users = 0
        self.retired = False


class ArchiveRuntime:
    """See the module docstring. Build it with `open_archive`, or directly and `await close()`."""

    def __init__(self, setup: ArchiveSetup, *, http_settings: HttpSettings | None = None,
                 scratch_dir: Path | None = None, crash: Crash = no_crash):
        self.setup = setup
        self.http_settings = http_settings
        self.scratch_dir = scratch_dir
        self.crash = crash
        self.limit = asyncio.Semaphore(setup.section.max_runs)
        self.executor = ThreadPoolExecutor(max_workers=2 * setup.section.max_runs + 1,
                                           thread_name_prefix="archive")
        self.hash_pool = ThreadPoolExecutor(max_workers=hash_threads(), thread_name_prefix="archive-hash")
        self._handles: dict[Path, IndexHandle] = {}
        self._handles_lock = threading.Lock()
        self._net: _NetSlot | None = None
        self._old: list[_NetSlot] = []
        self._net_lock = asyncio.Lock()
        self._pieces: PieceServer | None = None
        self._pieces_lock = asyncio.Lock()
        self._closed = False

    # -- mirrors and indexes -------------------------------------------------------------------
    @property
    def section(self) -> ArchiveConfig:
        return self.setup.section

    @property
    def mirrors(self) -> dict[str, MirrorArchive]:
        return {m.name: m for m in self.setup.mirrors}

    def mirror(self, name: str) -> MirrorArchive:
        ms = self.setup.mirror(name)
        if ms is None:
            raise ArchiveError(f"archive: no archived mirror named {name!r}")
        return ms

    def index_handle(self, name: str) -> IndexHandle:
        ms = self.mirror(name)
        with self._handles_lock:
            h = self._handles.get(ms.index_path)
            if h is None:
                h = self._handles[ms.index_path] = IndexHandle(ms)
            return h

    def index(self, name: str) -> ArchiveIndex:
        """The mirror's index, created if needed (blocking: a SQLite open on first use)."""
        return self.index_handle(name).open()

    async def to_thread(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the archive executor (never the loop's default one)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def open_indexes(self) -> None:
        """Open (create) every mirror's index now (blocking)."""
        for ms in self.setup.mirrors:
            self.index(ms.name)

    def _pairs(self) -> list[tuple[MirrorArchive, ArchiveIndex]]:
        """(settings, index) of every mirror whose index is open or exists (the piece server's view)."""
        out = []
        for ms in self.setup.mirrors:
            index = self.index_handle(ms.name).get()
            if index is not None:
                out.append((ms, index))
        return out

    # -- network and piece server ----------------------------------------------------------------
    async def network(self) -> FilecoinNetwork:
        """The network of the current `[archive]` section, opened on first use."""
        return (await self._slot()).net

    async def _slot(self) -> _NetSlot:
        async with self._net_lock:
            if self._closed:
                raise ArchiveError("archive runtime is closed")
            if self._net is None:
                net = await open_network(self.section, self.setup.file, self.http_settings, self.scratch_dir)
                self._net = _NetSlot(net)
            return self._net

    async def piece_base(self) -> str:
        """Where providers fetch our CARs: `[archive] piece_url`, else the loopback piece server."""
        if self.section.piece_url:
            return self.section.piece_url.rstrip("/")
        async with self._pieces_lock:
            if self._pieces is None:
                pieces = PieceServer(self._pairs)
                await pieces.start()
                self._pieces = pieces
            return self._pieces.base

    # -- runs --------------------------------------------------------------------------------------
    @asynccontextmanager
    async def run(self, name: str, *, network: bool = True, progress: Progress = no_progress,
                  syncing: Callable[[], bool] | None = None) -> AsyncIterator[ArchiveCtx]:
        """One archive run of `name`: waits for a slot of the limit, then an ArchiveCtx on this
        runtime's network, piece server and executors (network=False: no network, no piece server)."""
        limit = self.limit  # a reload may replace it; this run gives back the one it took
        async with limit:
            slot = await self._slot() if network else None
            if slot is not None:
                slot.users += 1  # from here a reload leaves this network open until the run ends
            try:
                yield await self._context(name, slot.net if slot else None, progress, syncing)
            finally:
                if slot is not None:
                    slot.users -= 1
                    if slot.retired and slot.users == 0:
                        await self._close_slot(slot)

    async def context(self, name: str, *, network: bool = True, progress: Progress = no_progress,
                      syncing: Callable[[], bool] | None = None) -> ArchiveCtx:
        """An ArchiveCtx for `name` outside the limit (short steps: the exclude list, dry runs)."""
        return await self._context(name, await self.network() if network else None, progress, syncing)

    async def _context(self, name: str, net: FilecoinNetwork | None, progress: Progress,
                       syncing: Callable[[], bool] | None) -> ArchiveCtx:
        ms = self.mirror(name)
        index = await self.to_thread(self.index, name)
        base = await self.piece_base() if net is not None else ""
        return ArchiveCtx(ms, index, net=net, piece_base=base, crash=self.crash, progress=progress,
                          syncing=syncing or (lambda: False), executor=self.executor, hash_pool=self.hash_pool)

    # -- reload and close ----------------------------------------------------------------------------
    async def reconfigure(self, setup: ArchiveSetup) -> bool:
        """Take a reloaded setup; True when the `[archive]` section changed (the network is reopened
        on next use, the old one closed when its runs end)."""
        old = self.setup
        self.setup = setup
        if setup.section == old.section:
            return False
        if setup.section.max_runs != old.section.max_runs:
            self.limit = asyncio.Semaphore(setup.section.max_runs)
        async with self._net_lock:
            slot, self._net = self._net, None
        if slot is not None:
            slot.retired = True
            if slot.users == 0:
                await self._close_slot(slot)
            else:
                self._old.append(slot)
        log.info("archive: [archive] changed; the network is reopened for the next runs")
        return True

    async def _close_slot(self, slot: _NetSlot) -> None:
        if slot in self._old:
            self._old.remove(slot)
        await slot.net.close()

    async def close(self) -> None:
        async with self._net_lock:
            self._closed = True
            slots = [s for s in (self._net, *self._old) if s is not None]
            self._net, self._old = None, []
        for s in slots:
            await s.net.close()
        if self._pieces is not None:
            await self._pieces.close()
            self._pieces = None
        with self._handles_lock:
            handles = list(self._handles.values())
            self._handles.clear()
        for h in handles:
            h.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.hash_pool.shutdown(wait=False, cancel_futures=True)


@asynccontextmanager
async def open_archive(setup: ArchiveSetup, *, http_settings: HttpSettings | None = None,
                       scratch_dir: Path | None = None, crash: Crash = no_crash) -> AsyncIterator[ArchiveRuntime]:
    """The archive runtime of `setup`, closed on exit (network, piece server, indexes, executors)."""
    rt = ArchiveRuntime(setup, http_settings=http_settings, scratch_dir=scratch_dir, crash=crash)
    try:
        yield rt
    finally:
        await rt.close()
