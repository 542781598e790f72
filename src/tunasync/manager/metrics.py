"""`GET /metrics` on the manager: mirror states, timestamps, sizes, sync durations, archive figures.

Two kinds of metrics:
- a snapshot of the database, read just before each scrape (states, timestamps, sizes, workers,
  archive figures), rendered by `SnapshotCollector` from plain data (pure, tested without HTTP);
- events this manager saw (sync durations and runs by result), fed by the status-change callback.
  They start empty when the manager restarts, as Prometheus counters may.

Sizes are the free-text sizes workers post (`1.33T` from rsync's `Total file size`), read with
rsync `-h` units (K = 1000). Bytes transferred per run are a worker metric (rsync's log), not here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..metrics import DURATION_BUCKETS, add_metrics_route, new_registry
from ..models import MirrorStatus, SyncStatus, WorkerStatus, timefmt
from .state import STATE, StatusChange

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
ARCHIVE_STATES = ("local", "hashed", "storing", "stored", "evicted", "cached")
COPIES_BUCKETS = 32  # buckets le=0..32 at most; more copies count in +Inf only
# A run reported more than this long after it ended is an old run seen again (e.g. after a restart).
FRESH_SECONDS = 120


LABEL_MAX = 128  # = models.names.MAX_NAME: names posted today fit; an older, longer record is cut


def label(text: str) -> str:
    """A mirror or worker name as a label value, at most LABEL_MAX characters (a longer one keeps a
    digest of the whole, so two long names never merge into one series)."""
    if len(text) <= LABEL_MAX:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return text[: LABEL_MAX - 14] + "~" + digest


def parse_size(text: str) -> float | None:
    """Bytes of a posted size like `1.33T`, `596G`, `12345`; None for `unknown` or free text."""
    m = _SIZE.match(text or "")
    if not m:
        return None
    return float(m.group(1)) * _UNITS[m.group(2).upper()]


def archive_summary(figures: dict[str, Any]) -> tuple[dict[str, tuple[int, int]], dict[int, int]]:
    """(state -> (files, bytes), copies -> pieces) from a mirror's archive figures, leniently.

    Accepted: `states` (or `counts`) as {state: {"files": n, "bytes": b}} or {state: [n, b]};
    `copies` (or `copies_histogram`) as {"<copies>": pieces}.
    """
    states: dict[str, tuple[int, int]] = {}
    raw = figures.get("states", figures.get("counts")) or {}
    if isinstance(raw, dict):
        for state, v in list(raw.items())[:len(ARCHIVE_STATES)]:  # records stored before figures were checked
            try:
                if isinstance(v, dict):
                    states[label(str(state))] = (int(v.get("files", 0) or 0), int(v.get("bytes", 0) or 0))
                elif isinstance(v, list | tuple) and len(v) == 2:
                    states[label(str(state))] = (int(v[0] or 0), int(v[1] or 0))
            except (TypeError, ValueError):
                continue
    copies: dict[int, int] = {}
    hist = figures.get("copies", figures.get("copies_histogram")) or {}
    if isinstance(hist, dict):
        for k, v in hist.items():
            try:
                copies[int(k)] = int(v)
            except (TypeError, ValueError):
                continue
    return states, copies


@dataclass
class Snapshot:
    statuses: list[tuple[str, str, MirrorStatus]] = field(default_factory=list)
    workers: list[WorkerStatus] = field(default_factory=list)
    archive: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def _ts(t: datetime) -> float | None:
    v = timefmt.unix(t)
    return float(v) if v > 0 else None


class SnapshotCollector(Collector):
    """Metric families from the latest `Snapshot` (set `.snapshot` before collecting)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self) -> Iterator[Metric]:
        yield from snapshot_metrics(self.snapshot)


def snapshot_metrics(snap: Snapshot) -> Iterable[Metric]:
    lbl = ["mirror", "worker"]
    state = GaugeMetricFamily("tunasync_mirror_state", "1 for the mirror's current sync status, 0 for the others.",
                              labels=[*lbl, "state"])
    code = GaugeMetricFamily("tunasync_mirror_status_code",
                             "Current sync status as Go's integer (0 none, 1 failed, 2 success, 3 syncing, "
                             "4 pre-syncing, 5 paused, 6 disabled).", labels=lbl)
    times = {
        "last_update": GaugeMetricFamily("tunasync_mirror_last_success_timestamp_seconds",
                                         "Unix time of the last successful sync.", labels=lbl),
        "last_started": GaugeMetricFamily("tunasync_mirror_last_started_timestamp_seconds",
                                          "Unix time the last run started.", labels=lbl),
        "last_ended": GaugeMetricFamily("tunasync_mirror_last_ended_timestamp_seconds",
                                        "Unix time the last run ended (success or failure).", labels=lbl),
        "next_schedule": GaugeMetricFamily("tunasync_mirror_next_schedule_timestamp_seconds",
                                           "Unix time of the next scheduled run (absent while running).", labels=lbl),
    }
    size = GaugeMetricFamily("tunasync_mirror_size_bytes", "Mirror size as last posted (rsync units, K = 1000).",
                             labels=lbl)
    master = GaugeMetricFamily("tunasync_mirror_is_master", "1 when this worker is the mirror's master.", labels=lbl)
    order = list(SyncStatus)
    for worker_id, mirror_id, s in snap.statuses:
        labels = [label(mirror_id), label(worker_id)]
        for st in order:
            state.add_metric([*labels, st.value], 1.0 if s.status == st else 0.0)
        code.add_metric(labels, float(order.index(s.status)))
        for attr, fam in times.items():
            v = _ts(getattr(s, attr))
            if v is not None:
                fam.add_metric(labels, v)
        b = parse_size(s.size)
        if b is not None:
            size.add_metric(labels, b)
        master.add_metric(labels, 1.0 if s.is_master else 0.0)
    yield state
    yield code
    yield from times.values()
    yield size
    yield master

    workers = GaugeMetricFamily("tunasync_workers_registered", "Registered workers.")
    workers.add_metric([], float(len(snap.workers)))
    yield workers
    online = GaugeMetricFamily("tunasync_worker_last_online_timestamp_seconds",
                               "Unix time a worker last posted anything.", labels=["worker"])
    for w in snap.workers:
        v = _ts(w.last_online)
        if v is not None:
            online.add_metric([label(w.id)], v)
    yield online

    files = GaugeMetricFamily("tunasync_archive_files", "Files in the archive index per state.", labels=[*lbl, "state"])
    nbytes = GaugeMetricFamily("tunasync_archive_bytes", "Bytes in the archive index per state.", labels=[*lbl, "state"])
    copies = HistogramMetricFamily("tunasync_archive_piece_copies",
                                   "Verified copies per stored piece (bundle).", labels=lbl)
    for worker_id, mirror_id, figures in snap.archive:
        worker_id, mirror_id = label(worker_id), label(mirror_id)
        states, hist = archive_summary(figures)
        for state_name in sorted(set(ARCHIVE_STATES) | set(states)):
            n, b = states.get(state_name, (0, 0))
            files.add_metric([mirror_id, worker_id, state_name], float(n))
            nbytes.add_metric([mirror_id, worker_id, state_name], float(b))
        if hist:
            top = min(max(max(hist), 5), COPIES_BUCKETS)
            buckets, running = [], 0
            for le in range(0, top + 1):
                running += hist.get(le, 0)
                buckets.append((str(float(le)), float(running)))
            buckets.append(("+Inf", float(sum(hist.values()))))
            total = float(sum(k * v for k, v in hist.items()))
            copies.add_metric([mirror_id, worker_id], buckets, total)
    yield files
    yield nbytes
    yield copies


class RunStats(Collector):
    """Finished runs per (mirror, worker, result): a counter and a duration histogram, kept as plain
    numbers and rendered at scrape time. A status post costs a dict update, not a prometheus child
    (creating one per new mirror was most of the manager's per-post CPU)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        self.hist: dict[tuple[str, str, str], list[float]] = {}  # per bucket counts, then the sum

    def add(self, mirror: str, worker: str, result: str, seconds: float | None) -> None:
        key = (mirror, worker, result)
        self.counts[key] = self.counts.get(key, 0) + 1
        if seconds is None:
            return
        h = self.hist.get(key)
        if h is None:
            h = self.hist[key] = [0.0] * (len(DURATION_BUCKETS) + 1)
        for i, le in enumerate(DURATION_BUCKETS):
            if seconds <= le:
                h[i] += 1
        h[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("tunasync_sync_runs", "Finished runs seen by this manager, by result.",
                                   labels=["mirror", "worker", "result"])
        for key, n in sorted(self.counts.items()):
            runs.add_metric(list(key), float(n))
        yield runs
        durations = HistogramMetricFamily(
            "tunasync_sync_duration_seconds", "Duration of finished runs (last_started to last_ended) seen by "
            "this manager.", labels=["mirror", "worker", "result"])
        for key, h in sorted(self.hist.items()):
            buckets = [("+Inf" if le == float("inf") else str(float(le)), h[i]) for i, le in enumerate(DURATION_BUCKETS)]
            durations.add_metric(list(key), buckets, h[-1])
        yield durations


class ManagerMetrics:
    """The manager's registry: snapshot collector plus run events from status changes."""

    def __init__(self) -> None:
        self.registry = new_registry(process=True)
        self.collector = SnapshotCollector()
        self.registry.register(self.collector)
        self.run_stats = RunStats()
        self.registry.register(self.run_stats)
        self._seen: dict[tuple[str, str], Any] = {}

    def on_change(self, change: StatusChange) -> None:
        """Count a run once, when a record's last_ended moves to a fresh time with a final status."""
        s = change.status
        key = (change.worker_id, change.mirror_id)
        if s is None:
            self._seen.pop(key, None)
            return
        if s.status not in (SyncStatus.SUCCESS, SyncStatus.FAILED) or timefmt.is_zero(s.last_ended):
            return
        if self._seen.get(key) == s.last_ended:
            return
        self._seen[key] = s.last_ended
        if (timefmt.now() - s.last_ended).total_seconds() > FRESH_SECONDS:
            return
        seconds = None
        if not timefmt.is_zero(s.last_started) and s.last_ended >= s.last_started:
            seconds = (s.last_ended - s.last_started).total_seconds()
        self.run_stats.add(label(change.mirror_id), label(change.worker_id), s.status.value, seconds)


METRICS_KEY = web.AppKey("tunasync_manager_metrics", ManagerMetrics)


def setup(app: web.Application) -> None:
    """Add `GET /metrics` and the status-change listener to a manager app."""
    m = ManagerMetrics()
    app[METRICS_KEY] = m
    st = app[STATE]
    st.on_status_change.append(m.on_change)

    async def refresh() -> None:
        db = st.db
        m.collector.snapshot = Snapshot(
            statuses=await db.list_mirror_status_items(),
            workers=await db.list_workers(),
            archive=await db.list_archive_stats(),
        )

    add_metrics_route(app, m.registry, before_scrape=refresh)
