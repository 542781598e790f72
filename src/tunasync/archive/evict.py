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


def evict_one(index: ArchiveIndex, root: str, rec: FileRecord, *, crash: Crash = no_crash) -> EvictOutcome:
    """Remove one already-approved file from disk. The caller decided with policy.should_evict.

    `crash` is called after each step ("evict.intent", "evict.unlinking", "evict.unlinked"): tests and
    the kill -9 bench stop the process there (archive/crash.py) to prove every step recovers.
    """
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
    index.finish_eviction(jid, rec.path)
    return EvictOutcome(rec.path, True, "evicted")


def recover(index: ArchiveIndex, root: str) -> list[str]:
    """Finish or roll back half-done evictions after a crash; returns a line per action taken."""
    actions = []
    for row in index.journal_open():
        if row.op != "evict" or row.path is None:
            continue
        path, jid = row.path, row.id
        rec = index.get(path)
        full = os.path.join(root, path)
        if row.step == "intent" or rec is None:
            index.journal_end(jid)
            actions.append(f"rolled back eviction of {path} (not started)")
        elif rec.state is FileState.EVICTED:
            index.journal_end(jid)
        elif os.path.lexists(full):
            index.journal_end(jid)
            actions.append(f"rolled back eviction of {path} (file still on disk)")
        else:
            index.finish_eviction(jid, path)
            actions.append(f"finished eviction of {path}")
    for a in actions:
        log.warning("archive recovery: %s", a)
    return actions
