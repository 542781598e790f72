"""The worker's scheduling loop (docs/compat.md §4.9, §4.10): job messages in, manager posts and starts out.

Every `tick` seconds (5, as Go) at most one due job gets `start`, so mirrors due together at start-up
start at least a tick apart (docs/architecture.md, "Where each decision lives"). The first tick comes at once rather than after 5 s.
Between ticks the loop consumes job messages: a message counts only while its job is `ready` or
`halting` (that is how paused/disabled jobs stay so on the manager); it is posted to every manager,
re-queues the job at its next run when flagged, and then the schedules are posted.

The posts themselves go through the Reporter (reporter.py), so jobs never wait for a slow manager;
the manager sees the same final state as with Go's one-by-one posting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..models import MirrorStatus, SyncStatus, timefmt
from .job import Ctrl, Job, JobMessage, JobState
from .reporter import Reporter
from .schedule import ScheduleQueue, next_run

if TYPE_CHECKING:
    from .manager_client import ManagerClient
    from .schedule import RunSpec

log = logging.getLogger(__name__)

QUEUE_SIZE = 32  # Go's managerChan capacity: jobs wait when the loop falls behind
_STOP = object()


def accepts(job: Job) -> bool:
    """The message filter of docs/compat.md §4.9."""
    return job.state in (JobState.READY, JobState.HALTING)


class Scheduler:
    def __init__(self, worker_id: str, jobs: dict[str, Job], client: ManagerClient,
                 run_spec: Callable[[Job], RunSpec], *, tick: float = 5.0):
        self.worker_id = worker_id
        self.jobs = jobs
        self.client = client
        self.run_spec = run_spec
        self.tick = tick
        self.queue = ScheduleQueue()
        self.messages: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE)
        self.paused_ticks = False  # set while halting: no new scheduled starts
        self._starts: set[asyncio.Task[bool]] = set()
        self._task: asyncio.Task[None] | None = None
        self.now: Callable[[], datetime] = timefmt.now
        self.reporter = Reporter(client, self.queue.entries)
        self.observers: list[Callable[[Job, JobMessage], None]] = []  # see every accepted message (metrics)

    async def send(self, msg: JobMessage) -> None:
        """The jobs' `send`: waits while the queue is full, as Go's buffered channel."""
        await self.messages.put(msg)

    def status_of(self, job: Job, msg: JobMessage) -> MirrorStatus:
        p = job.provider
        return MirrorStatus(name=job.name, worker=self.worker_id, is_master=p.is_master, status=msg.status,
                            upstream=p.upstream, size=job.size or "unknown", error_msg=msg.msg)

    async def post_schedules(self) -> None:
        """Post the schedules and wait until they are out."""
        self.reporter.schedules()
        await self.reporter.flush()

    def start(self) -> None:
        self.reporter.start()
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        """After every job task has exited: handle what is left (success/failed only) and end."""
        if self._task is None:
            return
        await self.messages.put(_STOP)
        await asyncio.gather(self._task, return_exceptions=True)
        for t in list(self._starts):
            t.cancel()
        await self.reporter.stop()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            wait = next_tick - loop.time()
            item: object = None
            if wait > 0:
                try:
                    item = await asyncio.wait_for(self.messages.get(), wait)
                except TimeoutError:
                    item = None
            if item is None:
                next_tick = max(next_tick + self.tick, loop.time())
                self._on_tick()
                continue
            batch = [item]
            while not self.messages.empty():
                batch.append(self.messages.get_nowait())
            if _STOP in batch:
                done = [m for m in batch if m is not _STOP]
                done += self._drain()
                # Go sends only final statuses of what was still queued when it stops.
                await self.process([m for m in done if isinstance(m, JobMessage)
                                    and m.status in (SyncStatus.SUCCESS, SyncStatus.FAILED)])
                return
            try:
                await self.process([m for m in batch if isinstance(m, JobMessage)])
            except Exception:  # a bug here must not stop scheduling
                log.exception("processing job messages failed")

    def _drain(self) -> list[object]:
        out = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out

    def _on_tick(self) -> None:
        if self.paused_ticks:
            return
        name = self.queue.pop_due(self.now())
        if name is None:
            return
        job = self.jobs.get(name)
        if job is None:
            return
        log.debug("scheduled start of %s", name)
        # A task, so a job whose control slot is full never blocks the loop.
        t = asyncio.create_task(job.control(Ctrl.START))
        self._starts.add(t)
        t.add_done_callback(self._starts.discard)

    async def process(self, batch: list[JobMessage]) -> None:
        """Filter, hand statuses to the reporter (it posts them, then the schedules), re-queue."""
        now = self.now()
        for msg in batch:
            job = self.jobs.get(msg.name)
            if job is None or not accepts(job):
                log.info("job %s: %s message skipped (state %s)", msg.name, msg.status.value,
                         job.state.value if job else "deleted")
                continue
            log.info("job %s: %s %s", msg.name, msg.status.value, msg.msg)
            for observe in self.observers:  # worker metrics (worker/metrics.py)
                observe(job, msg)
            if msg.schedule:
                self.queue.add(msg.name, next_run(now, self.run_spec(job)))
            self.reporter.status(self.status_of(job, msg))
