"""The worker's archive tier: one background pipeline per archived mirror, the network, the figures.

Built only when a mirror has `archive = true`. The `archive` hook calls in; runs are queued, never
concurrent for one mirror (a sync that succeeds while a run is going queues one more run), and never
on the job's path. After each run the mirror's figures go to the manager (`POST .../archive`). The
network, piece server, indexes, executors and the limit on runs across mirrors are the archive
runtime's (archive/runtime.py): runs of several mirrors queue for `[archive] max_runs` slots, and their
blocking work never takes the loop's default executor the job path uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from ..archive import pipeline
from ..archive.gate import MirrorGate, SyncHold
from ..archive.runtime import ArchiveRuntime
from ..archive.settings import MirrorArchive
from ..archive.status import figures
from ..errors import ArchiveError, ConfigError, NetworkError
from .archive_setup import archive_setup

if TYPE_CHECKING:
    from ..archive.context import ArchiveCtx
    from ..filecoin.interfaces import FilecoinNetwork
    from .config_models import WorkerConfig
    from .hooks.archive import ArchiveHook
    from .manager_client import ManagerClient
    from .providers.base import Provider

log = logging.getLogger(__name__)

TICK = float(os.environ.get("TUNASYNC_ARCHIVE_TICK", "600"))


class ArchiveRunner:
    def __init__(self, cfg: WorkerConfig, client: ManagerClient | None = None, *, wait: float = 0.0):
        from ..archive.crash import from_env

        self.cfg = cfg
        self.client = client
        self.wait = wait  # seconds a run waits for deals to become copies (0: check again next run)
        # The archive runtime: network, piece server, indexes, the limit on runs, the archive executors.
        self.rt = ArchiveRuntime(archive_setup(cfg), crash=from_env())
        self.rt.open_indexes()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._again: set[str] = set()
        self._syncing: set[str] = set()
        self._holds: dict[str, SyncHold] = {}  # the gate each running sync holds
        self._ticker: asyncio.Task[None] | None = None
        self.runs: dict[str, int] = {}
        self.last: dict[str, dict[str, Any]] = {}  # mirror -> summary of its last run (or error)

    @property
    def mirrors(self) -> dict[str, MirrorArchive]:
        return self.rt.mirrors

    async def update(self, cfg: WorkerConfig) -> None:
        """Take the (re)loaded config's archive settings: a changed `[archive]` reopens the network."""
        setup = archive_setup(cfg)
        self.cfg = cfg
        await self.rt.reconfigure(setup)
        await self.rt.to_thread(self.rt.open_indexes)

    def hook(self, provider: Provider) -> ArchiveHook:
        from .hooks.archive import ArchiveHook

        return ArchiveHook(provider, self)

    # -- called by the hook ----------------------------------------------------------------------
    async def sync_started(self, name: str) -> None:
        """The mirror's sync is about to run: no eviction from now until `sync_ended` (this process or
        another, archive/gate.py). Waits for an eviction batch under way, a bounded moment."""
        self._syncing.add(name)
        ms = self.mirrors.get(name)
        if ms is None or name in self._holds:
            return
        ms.ensure_dirs()
        self._holds[name] = await asyncio.to_thread(MirrorGate(ms.dir).hold_for_sync)

    def sync_ended(self, name: str) -> None:
        self._syncing.discard(name)
        hold = self._holds.pop(name, None)
        if hold is not None:
            hold.release()

    async def exclude_file(self, name: str) -> str | None:
        ms = self.mirrors.get(name)
        if ms is None:
            return None
        ctx = await self.rt.context(name, network=False)
        await ctx.to_thread(pipeline.write_exclude, ctx)
        return str(ms.exclude_path)

    def compare_dest(self, name: str) -> str:
        """The shadow tree of evicted placeholders (`--compare-dest`), written by exclude_file."""
        return str(self.mirrors[name].shadow_dir)

    def after_success(self, name: str) -> None:
        if name not in self.mirrors:
            return
        task = self._tasks.get(name)
        if task is not None and not task.done():
            self._again.add(name)
            return
        self._tasks[name] = asyncio.create_task(self._loop(name), name=f"archive-{name}")

    def start(self, tick: float = TICK) -> None:
        """Start the maintenance tick (open deals, repair, eviction between syncs)."""
        if self._ticker is None and tick > 0:
            self._ticker = asyncio.create_task(self._tick(tick), name="archive-tick")

    async def _tick(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            for name in list(self.mirrors):
                task = self._tasks.get(name)
                if task is not None and not task.done():
                    continue  # a full run is going; it does all of this too
                self._tasks[name] = asyncio.create_task(self.run_once(name, full=False),
                                                        name=f"archive-tick-{name}")

    # -- runs ------------------------------------------------------------------------------------
    async def network(self) -> FilecoinNetwork:
        return await self.rt.network()

    async def context(self, name: str) -> ArchiveCtx:
        return await self.rt.context(name, syncing=lambda: name in self._syncing)

    async def _loop(self, name: str) -> None:
        while True:
            self._again.discard(name)
            await self.run_once(name)
            if name not in self._again or name not in self.mirrors:
                return

    async def run_once(self, name: str, full: bool = True) -> dict[str, Any]:
        try:
            async with self.rt.run(name, syncing=lambda: name in self._syncing) as ctx:  # waits for a slot
                if full:
                    report = await pipeline.run(ctx, after_sync=True, wait=self.wait)
                else:
                    report = await pipeline.maintain(ctx)
            summary = report.summary()
            log.info("archive %s: %s", name, " ".join(f"{k}={v}" for k, v in summary.items() if v))
        except (ArchiveError, NetworkError, ConfigError, OSError) as exc:
            log.error("archive %s: run failed: %s", name, exc)
            summary = {"error": str(exc)}
        except Exception as exc:  # a bug here must not end the worker's archive for good: log it whole
            log.exception("archive %s: run failed unexpectedly", name)
            summary = {"error": f"{type(exc).__name__}: {exc}"}
        self.runs[name] = self.runs.get(name, 0) + 1
        self.last[name] = summary
        await self.post_figures(name, summary)
        return summary

    async def post_figures(self, name: str, last_run: dict[str, Any] | None = None) -> None:
        if self.client is None or name not in self.mirrors:
            return
        ms = self.mirrors[name]
        figs = await self.rt.to_thread(lambda: figures(self.rt.index(name), ms.policy))
        if last_run is not None:
            figs["last_run"] = last_run
        await self.client.post_archive(name, figs)

    async def post_all(self) -> None:
        for name in self.mirrors:
            await self.post_figures(name, self.last.get(name))

    async def idle(self) -> None:
        """Wait until no run is going (tests, shutdown)."""
        while any(not t.done() for t in self._tasks.values()):
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        for t in self._tasks.values():
            t.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for name in list(self._holds):
            self.sync_ended(name)
        await self.rt.close()


