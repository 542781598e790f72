"""The in-progress cache file of a retrieval, and putting it in place once every byte verified.

It is `.tunasync-<name>.<random>.partial` in the target's own directory (the archive scanner skips the
prefix; same filesystem, so placing it is a link, not a copy). When the mirror tree is not writable the
retrieval still streams to its clients from a spool file in `spool_dir`, and nothing is cached.
Blocking functions: run them in a thread.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass

from ..archive.scan import TEMP_PREFIX
from ..fsutil import fsync_dir, unlink_quiet

log = logging.getLogger(__name__)

STALE_SECONDS = 3600  # a partial untouched this long belongs to a retrieval that died with its process


@dataclass
class Partial:
    fd: int  # O_RDWR; written with pwrite only, so readers' dup()s may seek freely
    path: str
    final: str
    cacheable: bool  # False: a spool file outside the tree


def _remove_stale(directory: str, name: str) -> None:
    prefix = f"{TEMP_PREFIX}{name}."
    now = time.time()
    try:
        with os.scandir(directory) as it:
            for e in it:
                if e.name.startswith(prefix) and e.name.endswith(".partial"):
                    try:
                        if now - e.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                            os.unlink(e.path)
                    except OSError:
                        pass
    except OSError:
        pass


def open_partial(final: str, spool_dir: str | None = None) -> Partial:
    """Create the partial file beside `final` (its directory is created if missing)."""
    directory, name = os.path.split(final)
    tag = uuid.uuid4().hex[:12]
    try:
        os.makedirs(directory, exist_ok=True)
        _remove_stale(directory, name)
        path = os.path.join(directory, f"{TEMP_PREFIX}{name}.{tag}.partial")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        return Partial(fd, path, final, True)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        log.warning("serve: cannot write into %s (%s): streaming %s without caching it",
                    directory, exc.strerror, name)
    spool = spool_dir or tempfile.gettempdir()
    path = os.path.join(spool, f"{TEMP_PREFIX}{name}.{tag}.partial")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    return Partial(fd, path, final, False)


def place(p: Partial, mtime_ns: int) -> int | None:
    """fsync, restore the recorded mtime, and link the file in under its final name; the new inode.

    Never replaces a file: when something is already there (rsync fetched a new version meanwhile),
    or the partial vanished (an `rsync --delete` ran), nothing is placed and None is returned."""
    os.fsync(p.fd)
    os.utime(p.fd, ns=(time.time_ns(), mtime_ns))
    if not p.cacheable:
        return None
    try:
        os.link(p.path, p.final)
    except FileExistsError:
        return None
    except FileNotFoundError:
        log.warning("serve: %s vanished before it was complete: %s not cached", p.path, p.final)
        return None
    unlink_quiet(p.path)
    fsync_dir(os.path.dirname(p.final))
    return os.fstat(p.fd).st_ino


def discard(p: Partial) -> None:
    """Remove the partial file (after a failure, or after placing it)."""
    unlink_quiet(p.path)
