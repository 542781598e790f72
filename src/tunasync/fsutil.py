"""Small durable-file helpers shared by the archive (eviction, restores) and serve (its cache).

A rename or unlink is durable only once its directory is fsynced; a write of a large buffer may be
short. These are the few lines every such place needs, written once.
"""

from __future__ import annotations

import os

IOV_MAX = 1024  # Linux's limit on buffers per pwritev call


def fsync_dir(path: str) -> None:
    """Make the entries of directory `path` (a rename, link or unlink in it) survive power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until every byte is written (a write may be short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def unlink_quiet(path: str) -> None:
    """Remove `path` if it is there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def unlink_if(path: str, inode: int) -> None:
    """Remove `path` only if it is still the file with this inode (the one we placed there)."""
    try:
        if os.stat(path, follow_symlinks=False).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


def pwritev_all(fd: int, chunks: list[bytes] | list[bytes | memoryview], offset: int) -> None:
    """Write `chunks` back to back at `offset` (positional: the descriptor's offset is never used)."""
    views = [memoryview(c) for c in chunks if len(c)]
    while views:
        n = os.pwritev(fd, views[:IOV_MAX], offset)
        offset += n
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]
