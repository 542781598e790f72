"""Incremental scan of a mirror tree against its index.

A file is "changed" when its (size, mtime_ns, inode) differ from the index: only those are re-hashed.
Files that vanished from disk while not evicted were deleted upstream: marked, not forgotten.
Only regular files count; symlinks, sockets, devices and rsync's `.~tmp~` staging dirs are skipped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from .index import ArchiveIndex

SKIP_DIRS = frozenset({".~tmp~"})
TEMP_PREFIX = ".tunasync-"  # our own in-progress retrievals live next to their final name


@dataclass
class ScanResult:
    files: int = 0
    bytes: int = 0
    changed: list[tuple[str, int, int, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def walk(root: str) -> Iterator[tuple[str, int, int, int]]:
    """Yield (relative path, size, mtime_ns, inode) of every regular file under root, sorted per dir."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.name not in SKIP_DIRS:
                        subdirs.append(rel)
                    continue
                if e.name.startswith(TEMP_PREFIX):
                    continue
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield rel, st.st_size, st.st_mtime_ns, st.st_ino
        stack.extend(reversed(subdirs))


def scan(root: str, index: ArchiveIndex, apply: bool = True) -> ScanResult:
    """Compare the tree with the index; with apply=True record changes and upstream deletions."""
    known = index.stat_map()
    res = ScanResult()
    seen: set[str] = set()
    for rel, size, mtime_ns, ino in walk(root):
        res.files += 1
        res.bytes += size
        seen.add(rel)
        prev = known.get(rel)
        if prev is None or prev[0] != size or prev[1] != mtime_ns or prev[2] != ino or prev[4]:
            res.changed.append((rel, size, mtime_ns, ino))
    for rel, (_s, _m, _i, state, deleted) in known.items():
        if rel not in seen and not deleted and state != "evicted":
            res.deleted.append(rel)
    if apply:
        if res.changed:
            index.upsert_seen(res.changed)
        if res.deleted:
            index.mark_deleted(res.deleted)
    return res
