"""Small durable-file helpers shared by the archive (eviction, restores) and serve (its cache).

A rename or unlink is durable only once its directory is fsynced; a write of a large buffer may be
short. These are the few lines every such place needs, written once.
"""

from __future__ import annotations

import os


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
