"""The manager's database interface (docs/compat.md §3.2) plus our history and archive figures.

Two buckets as in Go: `workers` (id → WorkerStatus) and `mirror_status` (`<mirror>/<worker>` →
MirrorStatus), values stored as Go's JSON so they round-trip. New data (run history, archive
figures) lives beside them in places Go never reads. Records that fail to decode are skipped in
listings, as Go does. Returned records may be shared with a cache: build new ones, never mutate.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...errors import TunasyncError
from ...models import MirrorStatus, SyncStatus, WorkerStatus, gojson, timefmt


class NotFound(TunasyncError, LookupError):
    """A record is missing; the message is Go's text."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


def worker_not_found(worker_id: str) -> NotFound:
    return NotFound(f"invalid workerID {worker_id}")


def status_not_found(worker_id: str, mirror_id: str) -> NotFound:
    return NotFound(f"no mirror '{mirror_id}' exists in worker '{worker_id}'")


@dataclass(frozen=True)
class RunRecord:
    """One finished run (success or failed) of a mirror, for `GET .../history`."""

    name: str
    worker: str
    started: datetime
    ended: datetime
    status: SyncStatus
    error_msg: str = ""
    size: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "worker": self.worker,
            "started": timefmt.format_rfc3339(self.started),
            "ended": timefmt.format_rfc3339(self.ended),
            "status": self.status.value,
            "error_msg": self.error_msg,
            "size": self.size,
        }

    def dumps(self) -> str:
        return gojson.dumps(self.to_json())

    @classmethod
    def loads(cls, text: str | bytes) -> RunRecord:
        d = json.loads(text)
        return cls(
            name=d.get("name", ""),
            worker=d.get("worker", ""),
            started=timefmt.parse_rfc3339(d["started"]),
            ended=timefmt.parse_rfc3339(d["ended"]),
            status=SyncStatus.parse(d.get("status", "none")),
            error_msg=d.get("error_msg", ""),
            size=d.get("size", ""),
        )


def status_key(worker_id: str, mirror_id: str) -> str:
    """Go's key in the mirror_status bucket."""
    return f"{mirror_id}/{worker_id}"


def split_status_key(key: str) -> tuple[str, str]:
    """(worker_id, mirror_id) from `<mirror>/<worker>`; the last `/` splits, so mirror names may hold `/`."""
    mirror, _, worker = key.rpartition("/")
    return worker, mirror


def should_flush(s: MirrorStatus) -> bool:
    """Go's flush rule: disabled records and records without a name go."""
    return s.status == SyncStatus.DISABLED or s.name == ""


def dump_model(m: MirrorStatus | WorkerStatus) -> str:
    """Go's JSON text of a record (what Go stores and sends)."""
    from ..codec import encode

    return encode(m)


def load_status(text: str | bytes) -> MirrorStatus | None:
    try:
        return MirrorStatus.model_validate_json(text)
    except ValueError:
        return None


def load_worker(text: str | bytes) -> WorkerStatus | None:
    try:
        return WorkerStatus.model_validate_json(text)
    except ValueError:
        return None


StatusItem = tuple[str, str, MirrorStatus]  # (worker_id, mirror_id, status)

# The archive figures over time: one point per mirror per hour (the last figures posted in that hour),
# kept HISTORY_DAYS days. Small on purpose: a point is four numbers, 90 days are 2,160 points a mirror.
HOUR = 3600
HISTORY_DAYS = 90
HistoryItem = tuple[str, str, list[dict[str, int]]]  # (worker_id, mirror_id, points oldest first)


def history_point(stats: dict[str, Any], hour: int) -> dict[str, int]:
    """What a point keeps of the posted figures: bytes on local disk, bytes with enough copies on
    Filecoin (stored, cached, evicted), of those the evicted bytes, and files per side."""
    states = stats.get("states") or {}

    def of(*names: str, key: str = "bytes") -> int:
        total = 0
        for n in names:
            v = states.get(n)
            if isinstance(v, dict) and isinstance(v.get(key), int):
                total += v[key]
        return total

    disk = ("local", "hashed", "storing", "stored", "cached")
    filecoin = ("stored", "cached", "evicted")
    return {"t": hour, "disk_bytes": of(*disk), "filecoin_bytes": of(*filecoin), "evicted_bytes": of("evicted"),
            "disk_files": of(*disk, key="files"), "filecoin_files": of(*filecoin, key="files")}


def hour_of(when: float) -> int:
    return int(when) // HOUR * HOUR


def history_cutoff(now: float) -> int:
    """Points with `t` below this are dropped."""
    return hour_of(now) - HISTORY_DAYS * 86400


class Database(ABC):
    """Async storage for workers, statuses, run history and archive figures."""

    # True when other processes may write the same data (redis): callers must not cache forever.
    shared: bool = False

    @abstractmethod
    async def get_worker(self, worker_id: str) -> WorkerStatus: ...

    @abstractmethod
    async def list_workers(self) -> list[WorkerStatus]: ...

    @abstractmethod
    async def create_worker(self, w: WorkerStatus) -> WorkerStatus:
        """Store `w` under `w.id`, replacing any record (Go: registration overwrites)."""

    @abstractmethod
    async def delete_worker(self, worker_id: str) -> None: ...

    async def touch_worker(self, worker_id: str, when: datetime) -> None:
        """Set last_online (Go's RefreshWorker); a missing worker is NotFound.

        A heartbeat, not data: backends may acknowledge it before it is durable.
        """
        w = await self.get_worker(worker_id)
        await self.create_worker(w.model_copy(update={"last_online": when}))

    @abstractmethod
    async def get_mirror_status(self, worker_id: str, mirror_id: str) -> MirrorStatus: ...

    @abstractmethod
    async def update_mirror_status(
        self, worker_id: str, mirror_id: str, s: MirrorStatus, encoded: str | None = None
    ) -> MirrorStatus:
        """Replace the record; `encoded` is `dump_model(s)` when the caller already has it."""

    @abstractmethod
    async def list_mirror_status_items(self) -> list[StatusItem]:
        """Every decodable status with the (worker_id, mirror_id) of its key."""

    async def list_mirror_status(self, worker_id: str) -> list[MirrorStatus]:
        return [s for w, _m, s in await self.list_mirror_status_items() if w == worker_id]

    async def list_all_mirror_status(self) -> list[MirrorStatus]:
        return [s for _w, _m, s in await self.list_mirror_status_items()]

    @abstractmethod
    async def flush_disabled_jobs(self) -> list[tuple[str, str]]:
        """Delete disabled and nameless statuses; return the (worker_id, mirror_id) removed."""

    @abstractmethod
    async def add_run(self, worker_id: str, mirror_id: str, run: RunRecord, keep: int) -> None:
        """Append a run and keep only the newest `keep` of that mirror."""

    @abstractmethod
    async def list_runs(self, worker_id: str, mirror_id: str, limit: int) -> list[RunRecord]:
        """Newest first."""

    @abstractmethod
    async def put_archive_stats(self, worker_id: str, mirror_id: str, stats: dict[str, Any],
                                now: float | None = None) -> None:
        """Replace the mirror's figures and record them as the point of the hour of `now` (default: now);
        points older than HISTORY_DAYS are dropped."""

    @abstractmethod
    async def list_archive_stats(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(worker_id, mirror_id, figures) for every mirror that reported figures."""

    @abstractmethod
    async def list_archive_history(self, since: int) -> list[HistoryItem]:
        """Every mirror's points with `t >= since`, oldest first, mirrors sorted by (worker, mirror)."""

    @abstractmethod
    async def import_all(
        self, workers: Iterable[WorkerStatus], statuses: Iterable[MirrorStatus | StatusItem]
    ) -> None:
        """Upsert workers and statuses in one transaction: all stored or none.

        A status given as a bare MirrorStatus is keyed by its own (`worker`, `name`); give
        (worker_id, mirror_id, status) to keep a Go key whose parts differ from the record.
        """

    @abstractmethod
    async def close(self) -> None: ...


def normalise_items(statuses: Iterable[MirrorStatus | StatusItem]) -> list[StatusItem]:
    out: list[StatusItem] = []
    for item in statuses:
        if isinstance(item, MirrorStatus):
            out.append((item.worker, item.name, item))
        else:
            out.append(item)
    return out
