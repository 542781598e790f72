"""Walk a directory for addressing: the regular files below it, in sorted path order.

Symlinks are skipped unless `follow_symlinks`; when followed, a link back to a directory already on
the current path is reported as a loop instead of being walked forever. Anything that is not a
regular file or a directory (FIFOs, sockets, devices) and anything unreadable is reported as a
per-path problem; the walk continues.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TreeFile:
    rel: str  # path below the walked directory, "/"-separated
    path: str  # path to open
    size: int


@dataclass(slots=True)
class Tree:
    root: str
    files: list[TreeFile] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped_links: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def walk_tree(root: str, follow_symlinks: bool = False, hidden: bool = True) -> Tree:
    """Regular files under `root` (itself followed if it is a symlink), sorted by relative path bytes."""
    tree = Tree(root)
    try:
        st = os.stat(root)
    except OSError as exc:
        tree.problems.append((root, exc.strerror or str(exc)))
        return tree
    _walk(tree, root, "", {(st.st_dev, st.st_ino)}, follow_symlinks, hidden)
    tree.files.sort(key=lambda f: f.rel.encode("utf-8", "surrogateescape"))
    return tree


def _walk(tree: Tree, path: str, rel: str, ancestors: set[tuple[int, int]], follow: bool, hidden: bool) -> None:
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        tree.problems.append((path, exc.strerror or str(exc)))
        return
    for entry in entries:
        if not hidden and entry.name.startswith("."):
            continue
        child_rel = f"{rel}/{entry.name}" if rel else entry.name
        try:
            is_link = entry.is_symlink()
            if is_link and not follow:
                tree.skipped_links.append(entry.path)
                continue
            st = os.stat(entry.path)  # follows the link when there is one
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if is_link:
                reason = f"broken symlink ({reason})"
            tree.problems.append((entry.path, reason))
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                tree.problems.append((entry.path, "symlink loop: points to a directory above it"))
                continue
            _walk(tree, entry.path, child_rel, ancestors | {key}, follow, hidden)
        elif stat.S_ISREG(st.st_mode):
            tree.files.append(TreeFile(child_rel, entry.path, st.st_size))
        else:
            tree.problems.append((entry.path, f"not a regular file ({_kind(st.st_mode)})"))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
