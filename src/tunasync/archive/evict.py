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
from typing import NamedTuple

from ..fsutil import fsync_dir
from .crash import Crash, no_crash
from .db import JournalEntry
from .gate import MirrorGate
from .index import ArchiveIndex, FileRecord
from .shadow import Mover, empty_leftover, shadow_beside
from .states import FileState

log = logging.getLogger(__name__)

BATCH = 2000  # files per journaled batch: bounds how long a starting sync may wait for the gate
LEAVING = (FileState.STORED, FileState.CACHED)  # the states a file may leave disk from


class Leaving(NamedTuple):
    """An approved file, as the index knew it when its copies were checked (any 4-tuple of these will
    do: the eviction's hot loop passes plain tuples)."""

    path: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, rec: FileRecord) -> Leaving:
        return cls(rec.path, rec.size, rec.mtime_ns, rec.inode)


File = tuple[str, int, int, int]  # (path, size, mtime_ns, inode), as Leaving


@dataclass
class EvictOutcome:
    path: str
    evicted: bool
    reason: str


@dataclass
class BatchOutcome:
    evicted: list[File] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    busy: bool = False  # a sync holds (or wants) the mirror: nothing was touched

    def outcomes(self) -> list[EvictOutcome]:
        return ([EvictOutcome(f[0], True, "evicted") for f in self.evicted]
                + [EvictOutcome(p, False, why) for p, why in self.kept.items()])


CHANGED = "file changed or vanished since it was stored; rescan first"


def evict_batch(index: ArchiveIndex, root: str, files: Sequence[File], gate: MirrorGate, *,
                crash: Crash = no_crash, tested_at: float | None = None, shadow: str | None = None) -> BatchOutcome:
    """Remove already-approved files from disk (blocking). The caller decided with the policy.

    `crash` is called at each step: "evict.journaled" (batch recorded, nothing touched), "evict.moved"
    (a file renamed into the shadow tree, its data not freed yet), "evict.unlinked" (after each file
    left), "evict.recorded" (the batch is done). `tested_at`: the verified test retrieval
    that covered these files, recorded on each (files tested one by one already carry theirs).
    Per file: one `lstat` (the identity check: size, mtime, inode as approved), then it leaves the
    mirror tree: moved into the shadow tree `shadow` as its own placeholder (shadow.Mover) when given
    and on the same filesystem, else unlinked (`reconcile` places the placeholder later)."""
    out = BatchOutcome()
    if not files:
        return out
    with gate.evict_batch() as turn:
        if not turn.ok:
            out.busy = True
            return out
        detail = json.dumps({"files": [[f[0], f[1], f[2], f[3]] for f in files]})
        jid = index.journal_begin("evict", "unlinking", detail=detail)
        crash("evict.journaled")
        evicted = out.evicted
        join = os.path.join
        mover = Mover(shadow, root) if shadow is not None else None
        try:
            _leave(root, files, mover, out, crash)
        finally:
            if mover is not None:
                mover.close()
        for d in sorted({join(root, f[0]).rpartition("/")[0] for f in evicted}):
            fsync_dir(d)
        index.finish_eviction(jid, [f[0] for f in evicted], tested_at)
        crash("evict.recorded")
    return out


def _leave(root: str, files: Sequence[File], mover: Mover | None, out: BatchOutcome, crash: Crash) -> None:
    """Each approved file that is still the one approved leaves the mirror tree (see evict_batch)."""
    evicted = out.evicted
    kept = out.kept
    lstat, unlink, join = os.lstat, os.unlink, os.path.join
    for f in files:
        path, size, mtime_ns, inode = f
        full = join(root, path)
        try:
            st = lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            kept[path] = CHANGED
            continue
        if st.st_size != size or st.st_mtime_ns != mtime_ns or st.st_ino != inode:
            kept[path] = CHANGED
            continue
        # a file with other hard links is unlinked: emptying the inode would empty them too
        if mover is not None and st.st_nlink == 1 and mover.move(full, path):
            crash("evict.moved")
            mover.empty(path, size, mtime_ns, inode)
        else:
            try:
                unlink(full)
            except OSError as exc:
                kept[path] = f"cannot remove it: {exc.strerror}"
                continue
        evicted.append(f)
        crash("evict.unlinked")


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
    shadow = shadow_beside(index.path)
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
                if empty_leftover(shadow, path, rec.size, rec.mtime_ns):  # moved in, not emptied yet
                    actions.append(f"emptied the placeholder of {path}")
        index.finish_eviction(row.id, gone)
        if gone:
            actions.append(f"finished eviction of {len(gone)} file(s): {', '.join(gone[:5])}"
                           + (" ..." if len(gone) > 5 else ""))
        if kept:
            actions.append(f"rolled back eviction of {kept} file(s) still on disk")
    for a in actions:
        log.warning("archive recovery: %s", a)
    return actions
