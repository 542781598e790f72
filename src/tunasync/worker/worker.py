"""The worker process: start-up (docs/compat.md §4.7), commands from the manager (docs/compat.md §4.11), halt (docs/compat.md §4.12).

Reload (docs/compat.md §4.13) lives in reload.py, the control HTTP server in control.py, the loop in scheduler.py.

Decisions on Go quirks touched here:
- 15 (fixed): `ping` only answers; it no longer removes the mirror from the schedule queue.
- 31 (kept): `disable` answers only after the job task has exited, which can outlast the manager's
  5 s client timeout (the manager then reports a 500 although the disable completes).
- 37 (kept): halting runs the post-exec/post-fail hooks of interrupted runs and reports them
  `failed` / `killed by manager`, so the manager shows the sync did not finish.
- `reload` with an empty mirror_id answers 200 `{"msg":"OK"}` (Go answers a stray 404 after
  reloading; the manager ignores the answer either way).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..models import CmdVerb, SyncStatus, WorkerCmd
from ..models.status import MirrorStatus
from . import schedule
from .job import Ctrl, Job, JobState
from .manager_client import ManagerClient
from .scheduler import Scheduler
from .slots import Slots

if TYPE_CHECKING:
    from aiohttp import web

    from .archive_runner import ArchiveRunner
    from .providers.base import Provider

log = logging.getLogger(__name__)

Build = Callable[[Any, Any], "Provider"]


def default_build(mirror: Any, cfg: Any) -> Provider:
    from .providers.build import build_provider

    return build_provider(mirror, cfg)


@functools.lru_cache(maxsize=256)
def _cron(expr: str) -> Any:
    from . import cron

    return cron.parse(expr)


def run_spec(job: Job) -> schedule.RunSpec:
    """When `job` runs next: its interval, or its mirror's `cron` in its `timezone`."""
    p = job.provider
    mirror = p.config
    expr = getattr(mirror, "cron", None)
    if not expr:
        return schedule.RunSpec(p.interval)
    from . import cron

    return schedule.RunSpec(p.interval, _cron(expr), cron.zone(getattr(mirror, "timezone", None) or ""))


def worker_url(cfg: Any) -> str:
    s = cfg.server
    scheme = "https" if (s.ssl_cert or s.ssl_key) else "http"
    return f"{scheme}://{s.hostname}:{s.listen_port}/"


class Worker:
    def __init__(self, cfg: Any, *, build: Build = default_build, tick: float = 5.0,
                 restart_delay: float = 1.0, register_wait: float = 10.0,
                 client: ManagerClient | None = None):
        self.cfg = cfg
        self.build = build
        self.restart_delay = restart_delay
        self.register_wait = register_wait
        self.name = cfg.global_.name
        self.slots = Slots(cfg.global_.concurrent)
        self.jobs: dict[str, Job] = {}
        self.client = client or ManagerClient(
            self.name, worker_url(cfg), cfg.manager.api_base_list_effective(),
            token=cfg.manager.token, ca_cert=cfg.manager.ca_cert)
        self.scheduler = Scheduler(self.name, self.jobs, self.client, run_spec, tick=tick)
        self.lock = asyncio.Lock()  # Go's worker lock: commands, reload and halt never interleave
        self.halting = False
        self.done = asyncio.Event()
        self.control_runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.archive: ArchiveRunner | None = None
        if any(getattr(m, "archive", False) for m in cfg.mirrors):
            from .archive_runner import ArchiveRunner

            self.archive = ArchiveRunner(cfg, self.client)
            if build is default_build:
                self.build = self._build_with_archive

    def _build_with_archive(self, mirror: Any, cfg: Any) -> Provider:
        from .providers.build import build_provider

        assert self.archive is not None
        return build_provider(mirror, cfg, archive_hook=self.archive.hook)

    # -- start-up (docs/compat.md §4.7) ----------------------------------------------------------------------------
    def new_job(self, mirror: Any, cfg: Any) -> Job:
        return Job(self.build(mirror, cfg), self.slots, self.scheduler.send, restart_delay=self.restart_delay)

    async def start(self, *, serve: bool = True) -> None:
        """Build the jobs, start the control server, register, schedule, and start the loop."""
        for mirror in self.cfg.mirrors:
            self.jobs[mirror.name] = self.new_job(mirror, self.cfg)
        if self.cfg.global_.concurrent <= 0:
            log.warning("global.concurrent is %d: no job runs except by `start -f` (as Go)",
                        self.cfg.global_.concurrent)
        await self.client.open()
        if serve:
            from .control import start_control

            self.control_runner = await start_control(self)
        self.client.start_registration()
        if not await self.client.wait_registered(self.register_wait):
            log.warning("no manager answered yet; still trying in the background")
        records = await self.client.fetch_jobs()
        if self.archive is not None:
            self.spawn(self.archive.post_all())  # the status page shows archive figures from the start
            self.archive.start()
        self.initial_schedule(records)
        await self.scheduler.post_schedules()
        self.scheduler.start()

    def initial_schedule(self, records: list[MirrorStatus]) -> None:
        now = self.scheduler.now()
        seen = set()
        for rec in records:
            job = self.jobs.get(rec.name)
            if job is None or rec.name in seen:
                continue
            seen.add(rec.name)
            if rec.status is SyncStatus.DISABLED:
                job.state = JobState.DISABLED
                continue
            if rec.status is SyncStatus.PAUSED:
                job.state = JobState.PAUSED
                job.start_task()
                continue
            job.state = JobState.NONE
            job.start_task()
            self.scheduler.queue.add(job.name, schedule.initial_run(now, rec.last_update, run_spec(job)))
        for name, job in self.jobs.items():
            if name not in seen:
                job.state = JobState.NONE
                job.start_task()
                self.scheduler.queue.add(name, now)

    # -- commands from the manager (docs/compat.md §4.11) ----------------------------------------------------------
    async def command(self, cmd: WorkerCmd) -> tuple[int, str]:
        """Apply a WorkerCmd; returns (HTTP status, msg)."""
        if cmd.mirror_id == "":
            if cmd.cmd is CmdVerb.RELOAD:
                self.spawn(self.reload())
                return 200, "OK"
            return 406, "Invalid Command"
        async with self.lock:
            job = self.jobs.get(cmd.mirror_id)
            if job is None:
                return 404, f"Mirror ``{cmd.mirror_id}'' not found"
            verb = cmd.cmd
            if verb is CmdVerb.PING:
                return 200, "OK"
            if verb not in (CmdVerb.START, CmdVerb.RESTART, CmdVerb.STOP, CmdVerb.DISABLE):
                return 406, "Invalid Command"
            self.scheduler.queue.remove(job.name)
            if verb in (CmdVerb.START, CmdVerb.RESTART) and job.state is JobState.DISABLED:
                job.start_task()
            if verb is CmdVerb.START:
                force = bool((cmd.options or {}).get("force"))
                await job.control(Ctrl.FORCE_START if force else Ctrl.START)
            elif verb is CmdVerb.RESTART:
                await job.control(Ctrl.RESTART)
            elif verb is CmdVerb.STOP:
                if job.state is not JobState.DISABLED:
                    await job.control(Ctrl.STOP)
            else:
                await self.disable_job(job)
            return 200, "OK"

    async def disable_job(self, job: Job) -> None:
        """Disable and wait until the job task has exited (kills a running sync)."""
        self.scheduler.queue.remove(job.name)
        if job.state is JobState.DISABLED and not job.alive:
            return
        if not await job.control(Ctrl.DISABLE):
            job.state = JobState.DISABLED
        await job.wait_exit()

    def spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    async def reload(self) -> bool:
        from .reload import reload_worker

        return await reload_worker(self)

    # -- halt (docs/compat.md §4.12) -------------------------------------------------------------------------------
    async def halt(self) -> None:
        """Stop every job (running syncs are killed and reported), flush messages, shut down."""
        if self.halting:
            await self.done.wait()
            return
        self.halting = True
        self.scheduler.paused_ticks = True
        log.info("stopping all the jobs")
        async with self.lock:
            live = [j for j in self.jobs.values() if j.alive]
            await asyncio.gather(*(j.control(Ctrl.HALT) for j in live))
            await asyncio.gather(*(j.wait_exit() for j in live))
            await self.scheduler.stop()
        me = asyncio.current_task()
        for t in list(self._background):
            if t is not me:
                t.cancel()
        if self.control_runner is not None:
            await self.control_runner.cleanup()
        if self.archive is not None:
            await self.archive.close()  # a run cut short here is what a crash is: journaled, recovered
        await self.client.close()
        log.info("all the jobs are stopped")
        self.done.set()
