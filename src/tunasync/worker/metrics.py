"""`GET /metrics` on the worker's control server: jobs, runs by result, durations, bytes transferred.

The scheduler calls `observe(job, msg)` for every job message it accepts (those it posts to the
managers); job states and running counts are read from the worker at scrape time. A run starts at
its `pre-syncing` message and ends at a message flagged for re-scheduling (a success, or the failure
of the last attempt). After a successful run the job log is read for rsync's `--stats` line
`Total transferred file size: N bytes` (rsync `-h` units, K = 1000); command providers that print
no such line add nothing.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..archive.dealfail import DEAL_FAILURES
from ..filecoin.ipni import SKIPPED_RECORDS
from ..filecoin.multiaddr import SKIPPED_ADDRS
from ..metrics import DURATION_BUCKETS, new_registry
from ..models import SyncStatus

if TYPE_CHECKING:
    from .job import Job, JobMessage
    from .worker import Worker

TRANSFERRED = re.compile(rb"^Total transferred file size: ([0-9][0-9,]*(?:\.[0-9]+)?)([KMGTPE]?) bytes", re.MULTILINE)
_UNITS = {b"": 1, b"K": 10**3, b"M": 10**6, b"G": 10**9, b"T": 10**12, b"P": 10**15, b"E": 10**18}
TAIL = 256 * 1024  # rsync prints its stats at the end of the log


def transferred_bytes(log_tail: bytes) -> float | None:
    """Bytes of the last `Total transferred file size:` line, or None."""
    matches = list(TRANSFERRED.finditer(log_tail))
    if not matches:
        return None
    num, unit = matches[-1].groups()
    return float(num.replace(b",", b"")) * _UNITS[unit]


def read_tail(path: str, size: int = TAIL) -> bytes:
    with open(path, "rb") as f:
        f.seek(0, 2)
        end = f.tell()
        f.seek(max(0, end - size))
        return f.read()


class _JobsCollector(Collector):
    def __init__(self, worker: Worker):
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        name = self.worker.name
        jobs = list(self.worker.jobs.values())
        total = GaugeMetricFamily("tunasync_worker_jobs", "Jobs (mirrors) configured on this worker.", labels=["worker"])
        total.add_metric([name], float(len(jobs)))
        running = GaugeMetricFamily("tunasync_worker_jobs_running", "Jobs with a run in flight.", labels=["worker"])
        running.add_metric([name], float(sum(1 for j in jobs if j.running)))
        state = GaugeMetricFamily("tunasync_worker_job_running", "1 while the mirror's run is in flight.",
                                  labels=["worker", "mirror"])
        for j in jobs:
            state.add_metric([name, j.name], 1.0 if j.running else 0.0)
        yield total
        yield running
        yield state


class WorkerMetrics:
    """The worker's registry; `observe` is the scheduler's hook."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.registry = new_registry(process=True)
        self.registry.register(_JobsCollector(worker))
        self.registry.register(SKIPPED_ADDRS)  # process-wide: unreadable provider multiaddrs met by the archive tier
        self.registry.register(SKIPPED_RECORDS)  # process-wide: unusable IPNI records met by the archive tier
        self.registry.register(DEAL_FAILURES)  # process-wide: failed storage deals by mirror and reason
        labels = ["worker", "mirror", "result"]
        self.runs = Counter("tunasync_worker_runs", "Finished runs by result.", labels, registry=self.registry)
        self.attempts = Counter("tunasync_worker_attempts_failed", "Failed attempts (a run retries up to `retry`).",
                                ["worker", "mirror"], registry=self.registry)
        self.durations = Histogram("tunasync_worker_run_duration_seconds", "Duration of finished runs.", labels,
                                   buckets=DURATION_BUCKETS, registry=self.registry)
        self.transferred = Counter("tunasync_worker_transferred_bytes", "Bytes rsync reports as transferred.",
                                   ["worker", "mirror"], registry=self.registry)
        self._started: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def observe(self, job: Job, msg: JobMessage) -> None:
        w, m = self.worker.name, job.name
        if msg.status is SyncStatus.PRE_SYNCING:
            self._started[m] = time.monotonic()
            return
        if msg.status is SyncStatus.FAILED:
            self.attempts.labels(w, m).inc()
        if msg.status not in (SyncStatus.SUCCESS, SyncStatus.FAILED) or not msg.schedule:
            return
        result = msg.status.value
        self.runs.labels(w, m, result).inc()
        started = self._started.pop(m, None)
        if started is not None:
            self.durations.labels(w, m, result).observe(time.monotonic() - started)
        if msg.status is SyncStatus.SUCCESS:
            t = asyncio.get_running_loop().create_task(self._count_transferred(job))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _count_transferred(self, job: Job) -> None:
        from .control import current_log

        def tail() -> bytes | None:
            path = current_log(job.provider.log_dir, job.provider.log_file)
            try:
                return read_tail(path) if path else None
            except OSError:
                return None

        data = await asyncio.to_thread(tail)
        if data is None:
            return
        n = transferred_bytes(data)
        if n is not None:
            self.transferred.labels(self.worker.name, job.name).inc(n)

    async def settle(self) -> None:
        """Wait for pending log reads (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
