"""Who wins when a status arrives (docs/compat.md §3.4(8), §3.5): pure functions of (current, posted, now).

The worker owns status, error_msg, upstream, is_master and worker; the manager owns the three
timestamps; a meaningful stored size survives posts carrying "" or "unknown".
"""

from __future__ import annotations

from datetime import datetime

from ..models import MirrorStatus, SyncStatus
from .db.base import RunRecord

_NO_SIZE = ("", "unknown")


def merge_status(cur: MirrorStatus | None, posted: MirrorStatus, now: datetime) -> MirrorStatus:
    """The record to store after the worker posts `posted` over `cur` (None: no record yet)."""
    cur = cur or MirrorStatus()
    started = now if posted.status == SyncStatus.PRE_SYNCING and cur.status != SyncStatus.PRE_SYNCING else cur.last_started
    updated = now if posted.status == SyncStatus.SUCCESS else cur.last_update
    ended = now if posted.status in (SyncStatus.SUCCESS, SyncStatus.FAILED) else cur.last_ended
    size = cur.size if cur.size not in _NO_SIZE and posted.size in _NO_SIZE else posted.size
    # Quirk 1 kept: next_schedule comes from the body (zero while a job runs), as web pages show today.
    return posted.model_copy(update={"last_started": started, "last_update": updated, "last_ended": ended, "size": size})


def finished_run(worker_id: str, mirror_id: str, stored: MirrorStatus, now: datetime) -> RunRecord | None:
    """A history entry when `stored` ends a run (success or failed), else None."""
    if stored.status not in (SyncStatus.SUCCESS, SyncStatus.FAILED):
        return None
    return RunRecord(
        name=mirror_id,
        worker=worker_id,
        started=stored.last_started,
        ended=now,
        status=stored.status,
        error_msg=stored.error_msg,
        size=stored.size,
    )


def with_size(cur: MirrorStatus, size: str) -> MirrorStatus:
    """`set-size`: quirk 9 kept, the size is overwritten even with "" or "unknown"."""
    return cur.model_copy(update={"size": size})


def with_schedule(cur: MirrorStatus, next_schedule: datetime) -> MirrorStatus | None:
    """The record after a schedules post, or None when nothing changes (Go skips equal times)."""
    if cur.next_schedule == next_schedule:
        return None
    return cur.model_copy(update={"next_schedule": next_schedule})


def with_command(cur: MirrorStatus | None, verb: str) -> MirrorStatus | None:
    """`stop` → paused, `disable` → disabled, written before the worker is told; others: None.

    Quirk 5 kept: for an unknown mirror a zero record (empty name) is stored; flush removes it.
    """
    new = {"stop": SyncStatus.PAUSED, "disable": SyncStatus.DISABLED}.get(verb)
    if new is None:
        return None
    return (cur or MirrorStatus()).model_copy(update={"status": new})
