"""The schedule queue and next-run arithmetic (docs/compat.md §4.10): pure, clock-injected, no IO.

One entry per job; re-adding a job replaces its entry; `pop_due(now)` hands out at most one job whose
time is strictly before `now` (the scheduler calls it once per 5 s tick: Go's pacing). Go keys its
skiplist by the time alone, so two jobs with the same timestamp overwrite each other; we key by
(time, name), which cannot lose a job.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ..models import timefmt


@dataclass(frozen=True)
class RunSpec:
    """When a job runs again: every `interval`, or at the fire times of a cron spec in `tz`."""

    interval: timedelta
    cron: Any = None  # a tunasync.worker.cron.CronSpec, when the mirror sets `cron`
    tz: tzinfo | None = None


def next_run(now: datetime, spec: RunSpec) -> datetime:
    """The next start after a finished run (Go: always now + interval; ours: cron when configured)."""
    if spec.cron is not None:
        from . import cron as cron_mod  # built by another helper; only imported when a cron spec exists

        return cron_mod.next_fire(spec.cron, now, spec.tz or cron_mod.zone(""))
    return now + spec.interval


def initial_run(now: datetime, last_update: datetime, spec: RunSpec) -> datetime:
    """First start after worker start-up from the manager's record (zero last_update: due at once)."""
    if timefmt.is_zero(last_update):
        return now
    if spec.cron is not None:
        return next_run(last_update, spec)
    return last_update + spec.interval


class ScheduleQueue:
    """Job name -> next start time, ordered by time (ties by name)."""

    def __init__(self) -> None:
        self._when: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []  # may hold stale entries; _when is the truth

    def __len__(self) -> int:
        return len(self._when)

    def __contains__(self, name: str) -> bool:
        return name in self._when

    def add(self, name: str, when: datetime) -> None:
        """Queue `name` at `when`, replacing any earlier entry for it."""
        self._when[name] = when
        heapq.heappush(self._heap, (when, name))
        if len(self._heap) > 4 * len(self._when) + 64:
            self._compact()

    def remove(self, name: str) -> bool:
        """Unqueue `name`; True if it was queued."""
        return self._when.pop(name, None) is not None

    def get(self, name: str) -> datetime | None:
        return self._when.get(name)

    def pop_due(self, now: datetime) -> str | None:
        """The earliest job whose time is strictly before `now`, removed from the queue; else None."""
        while self._heap:
            when, name = self._heap[0]
            if self._when.get(name) != when:
                heapq.heappop(self._heap)  # stale: replaced or removed
                continue
            if when >= now:
                return None
            heapq.heappop(self._heap)
            del self._when[name]
            return name
        return None

    def entries(self) -> list[tuple[str, datetime]]:
        """Every queued job with its time, earliest first (the schedules message)."""
        return sorted(self._when.items(), key=lambda kv: (kv[1], kv[0]))

    def _compact(self) -> None:
        self._heap = [(w, n) for n, w in self._when.items()]
        heapq.heapify(self._heap)
