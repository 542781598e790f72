"""Journaled eviction: a file leaves local disk only after its copies were verified, and a crash at
any point leaves it either on disk or recorded as evicted (retrievable).

Steps, each committed before the next:  intent ─► unlinking ─► (unlink, fsync dir) ─► evicted + journal end
Recovery (`recover`) on start: `intent` rolls back (the file was never touched); `unlinking` finishes
(file gone → evicted) or rolls back (file still there, unchanged → stays stored).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

from ..fsutil import fsync_dir
from .crash import Crash, no_crash
from .index import ArchiveIndex, FileRecord
from .states import FileState

log = logging.getLogger(__name__)


@dataclass
class EvictOutcome:
    path: str
    evicted: bool
    reason: str


def _same_file(full: str, rec: FileRecord) -> bool:
    try:
        st = os.stat(full, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (st.st_size, st.st_mtime_ns, st.st_ino) == (rec.size, rec.mtime_ns, rec.inode)


def evict_one(index: ArchiveIndex, root: str, rec: FileRecord, *, crash: Crash = no_crash,
              crash_at: str | None = None) -> EvictOutcome:
    """Remove one already-approved file from disk. The caller decided with policy.should_evict.

    `crash` is called after each step ("evict.intent", "evict.unlinking", "evict.unlinked"); `crash_at`
    (the step name without "evict.") raises SystemExit there instead. Both prove every step recovers.
    """
    if crash_at is not None:
        crash = _exit_at(crash_at)
    if rec.state not in (FileState.STORED, FileState.CACHED):
        return EvictOutcome(rec.path, False, f"state is {rec.state.value}")
    full = os.path.join(root, rec.path)
    detail = json.dumps({"size": rec.size, "mtime_ns": rec.mtime_ns, "inode": rec.inode, "cid": rec.cid})
    jid = index.journal_begin("evict", "intent", path=rec.path, detail=detail)
    crash("evict.intent")
    if not _same_file(full, rec):
        index.journal_end(jid)
        return EvictOutcome(rec.path, False, "file changed or vanished since it was stored; rescan first")
    index.journal_step(jid, "unlinking")
    crash("evict.unlinking")
    os.unlink(full)
    fsync_dir(os.path.dirname(full))
    crash("evict.unlinked")
    _finish(index, jid, rec.path)
    return EvictOutcome(rec.path, True, "evicted")


def _exit_at(step: str) -> Crash:
    def crash(point: str) -> None:
        if point == f"evict.{step}":
            raise SystemExit(f"crash injected at {step}")

    return crash


def _finish(index: ArchiveIndex, jid: int, path: str) -> None:
    with index.tx() as db:
        db.execute(
            "UPDATE files SET state = 'evicted', evicted_at = ? WHERE path = ? AND state IN ('stored', 'cached')",
            (time.time(), path),
        )
        db.execute("DELETE FROM journal WHERE id = ?", (jid,))


def recover(index: ArchiveIndex, root: str) -> list[str]:
    """Finish or roll back half-done evictions after a crash; returns a line per action taken."""
    actions = []
    for row in index.journal_open():
        if row["op"] != "evict":
            continue
        path, jid = row["path"], row["id"]
        rec = index.get(path)
        full = os.path.join(root, path)
        if row["step"] == "intent" or rec is None:
            index.journal_end(jid)
            actions.append(f"rolled back eviction of {path} (not started)")
        elif rec.state is FileState.EVICTED:
            index.journal_end(jid)
        elif os.path.lexists(full):
            index.journal_end(jid)
            actions.append(f"rolled back eviction of {path} (file still on disk)")
        else:
            _finish(index, jid, path)
            actions.append(f"finished eviction of {path}")
    for a in actions:
        log.warning("archive recovery: %s", a)
    return actions
