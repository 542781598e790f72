"""Journaled eviction, a batch at a time: files leave local disk only after their copies were verified,
and a crash at any point leaves each of them either on disk or recorded as evicted (retrievable).

One batch (up to `BATCH` approved files), under the mirror's gate (a sync can neither be running nor
start meanwhile, archive/gate.py):

    journal the batch (one commit) ─► per file: identity check, unlink ─► fsync the directories
        ─► one commit: the unlinked files become `evicted`, the journal row goes

Recovery (`recover`, before any other archive step): for each file of an open batch, gone from disk →
`evicted` (it was approved: its copies were verified), still there → stays as it was. So a crash
before the first unlink rolls the batch back, one after the last finishes it, and one in between
does each file by what the disk says. Two commits per batch instead of three per file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..fsutil import fsync_dir
from .crash import Crash, no_crash
from .db import JournalEntry
from .gate import MirrorGate
from .index import ArchiveIndex, FileRecord
from .states import FileState

log = logging.getLogger(__name__)

BATCH = 2000  # files per journaled batch: bounds how long a starting sync may wait for the gate
LEAVING = (FileState.STORED, FileState.CACHED)  # the states a file may leave disk from


@dataclass(frozen=True)
class Leaving:
    """An approved file, as the index knew it when its copies were checked."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, rec: FileRecord) -> Leaving:
        return cls(rec.path, rec.size, rec.mtime_ns, rec.inode)


@dataclass
class EvictOutcome:
    path: str
    evicted: bool
    reason: str


@dataclass
class BatchOutcome:
    evicted: list[Leaving] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    busy: bool = False  # a sync holds (or wants) the mirror: nothing was touched

    def outcomes(self) -> list[EvictOutcome]:
        return ([EvictOutcome(f.path, True, "evicted") for f in self.evicted]
                + [EvictOutcome(p, False, why) for p, why in self.kept.items()])


def _same_file(full: str, f: Leaving) -> bool:
    try:
        st = os.stat(full, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (st.st_size, st.st_mtime_ns, st.st_ino) == (f.size, f.mtime_ns, f.inode)


def evict_batch(index: ArchiveIndex, root: str, files: Sequence[Leaving], gate: MirrorGate, *,
                crash: Crash = no_crash, tested_at: float | None = None) -> BatchOutcome:
    """Remove already-approved files from disk (blocking). The caller decided with the policy.

    `crash` is called at each step: "evict.journaled" (batch recorded, nothing touched), "evict.unlinked"
    (after each unlink), "evict.recorded" (the batch is done). `tested_at`: the verified test retrieval
    that covered these files, recorded on each (files tested one by one already carry theirs)."""
    out = BatchOutcome()
    if not files:
        return out
    with gate.evict_batch() as turn:
        if not turn.ok:
            out.busy = True
            return out
        detail = json.dumps({"files": [[f.path, f.size, f.mtime_ns, f.inode] for f in files]})
        jid = index.journal_begin("evict", "unlinking", detail=detail)
        crash("evict.journaled")
        dirs: set[str] = set()
        for f in files:
            full = os.path.join(root, f.path)
            if not _same_file(full, f):
                out.kept[f.path] = "file changed or vanished since it was stored; rescan first"
                continue
            try:
                os.unlink(full)
            except OSError as exc:
                out.kept[f.path] = f"cannot remove it: {exc.strerror}"
                continue
            dirs.add(os.path.dirname(full))
            out.evicted.append(f)
            crash("evict.unlinked")
        for d in sorted(dirs):
            fsync_dir(d)
        index.finish_eviction(jid, [f.path for f in out.evicted], tested_at)
        crash("evict.recorded")
    return out


def evict_one(index: ArchiveIndex, root: str, rec: FileRecord, *, crash: Crash = no_crash,
              gate: MirrorGate | None = None) -> EvictOutcome:
    """One approved file through `evict_batch` (a batch of one); the gate defaults to the index's."""
    if rec.state not in LEAVING:
        return EvictOutcome(rec.path, False, f"state is {rec.state.value}")
    g = gate or MirrorGate(index.path.parent)
    res = evict_batch(index, root, [Leaving.of(rec)], g, crash=crash)
    if res.busy:
        return EvictOutcome(rec.path, False, "a sync of the mirror is running")
    (one,) = res.outcomes()
    return one


def _batch_paths(row: JournalEntry) -> list[str]:
    if row.path is not None:  # a single-file entry (the journal before batches)
        return [row.path]
    try:
        return [str(f[0]) for f in json.loads(row.detail or "{}").get("files", [])]
    except (ValueError, TypeError, IndexError):
        return []


def pending_paths(index: ArchiveIndex) -> list[str]:
    """Files of evictions a crash left open: maybe off disk already, so rsync must not fetch them."""
    return [p for row in index.journal_open() if row.op == "evict" for p in _batch_paths(row)]


def recover(index: ArchiveIndex, root: str) -> list[str]:
    """Finish or roll back half-done evictions after a crash; returns a line per action taken."""
    actions = []
    for row in index.journal_open():
        if row.op != "evict":
            continue
        if row.step == "intent":  # single-file journal: nothing was touched yet
            index.journal_end(row.id)
            actions.append(f"rolled back eviction of {row.path} (not started)")
            continue
        gone: list[str] = []
        kept = 0
        for path in _batch_paths(row):
            rec = index.get(path)
            if rec is None or rec.state not in LEAVING:
                continue
            if os.path.lexists(os.path.join(root, path)):
                kept += 1
            else:
                gone.append(path)
        index.finish_eviction(row.id, gone)
        if gone:
            actions.append(f"finished eviction of {len(gone)} file(s): {', '.join(gone[:5])}"
                           + (" ..." if len(gone) > 5 else ""))
        if kept:
            actions.append(f"rolled back eviction of {kept} file(s) still on disk")
    for a in actions:
        log.warning("archive recovery: %s", a)
    return actions
