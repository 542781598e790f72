"""Read a file in fixed-size chunks and hash the leaves on a small thread pool.

hashlib releases the GIL on large buffers, so while the main thread reads chunk i+1 (readinto a
reused buffer: no allocation per chunk) the pool hashes chunks i, i-1, ... on the other cores.
Memory is `buffers × chunk_size` whatever the file size. The file's (size, mtime) is checked before
and after: a file that changes while being read raises FileChangedError instead of a wrong CID.
"""

from __future__ import annotations

import io
import os
import stat
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .cid import CID
from .filedag import FileBuilder, FileDag, make_leaf
from .unixfs import FileChangedError, PathError, Profile, get_profile

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def hash_threads() -> int:
    """Hashing threads: one per core, at least 2 (reading overlaps hashing even on one core)."""
    return max(2, min(8, os.cpu_count() or 2))


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child inherits no threads
            _pool = ThreadPoolExecutor(max_workers=hash_threads(), thread_name_prefix="cid-hash")
            _pool_pid = os.getpid()
        return _pool


def _readinto_full(f: io.FileIO, mv: memoryview) -> int:
    """Fill `mv` unless EOF comes first; return the byte count."""
    got = 0
    while got < len(mv):
        n = f.readinto(mv[got:])
        if not n:
            break
        got += n
    return got


def open_regular(path: str, follow_symlinks: bool = True) -> io.FileIO:
    """Open a regular file for reading; ContentError for directories, devices, FIFOs, sockets."""
    st = os.stat(path, follow_symlinks=follow_symlinks)
    if not stat.S_ISREG(st.st_mode):
        raise PathError(path, "not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) * (not follow_symlinks) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the stat
            raise PathError(path, "not a regular file")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def hash_file(
    path: str,
    profile: str | Profile = "ipfs-car",
    keep_blocks: bool = True,
    progress: Callable[[int], None] | None = None,
    follow_symlinks: bool = True,
) -> FileDag:
    """Build the file's DAG from disk. `progress(n)` is called with each chunk's byte count."""
    prof = get_profile(profile)
    cs = prof.chunk_size
    builder = FileBuilder(prof, keep_blocks=keep_blocks)
    with open_regular(path, follow_symlinks) as f:
        before = os.fstat(f.fileno())
        if before.st_size <= cs:
            # one chunk: no pool round trip
            data = f.read(cs + 1)
            builder.update(data)
            if progress:
                progress(len(data))
        else:
            _hash_chunks(f, prof, builder, progress)
        after = os.fstat(f.fileno())
    _check_unchanged(path, before, after, builder.size, follow_symlinks)
    return builder.finish()


def _hash_chunks(f: io.FileIO, prof: Profile, builder: FileBuilder, progress: Callable[[int], None] | None) -> None:
    cs = prof.chunk_size
    pool = _executor()
    nbuf = hash_threads() * 2 + 1
    bufs = [memoryview(bytearray(cs)) for _ in range(nbuf)]
    inflight: deque[tuple[Future[tuple[CID, int]], int]] = deque()
    i = 0
    try:
        while True:
            if len(inflight) == nbuf:  # the oldest job holds the buffer we are about to reuse
                fut, n = inflight.popleft()
                cid, tsize = fut.result()
                builder.add_leaf(cid, n, tsize)
            buf = bufs[i % nbuf]
            n = _readinto_full(f, buf)
            if n == 0:
                break
            inflight.append((pool.submit(make_leaf, prof, buf[:n]), n))
            i += 1
            if progress:
                progress(n)
            if n < cs:
                break
        while inflight:
            fut, n = inflight.popleft()
            cid, tsize = fut.result()
            builder.add_leaf(cid, n, tsize)
    finally:
        for fut, _ in inflight:  # an exception above: let the workers drop our buffers first
            fut.cancel()
            if not fut.cancelled():
                fut.exception()


def _check_unchanged(path: str, before: os.stat_result, after: os.stat_result, read: int, follow: bool) -> None:
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise FileChangedError(path, "file changed while it was being hashed (size or mtime differ)")
    try:
        now = os.stat(path, follow_symlinks=follow)
    except OSError as exc:
        raise FileChangedError(path, f"file vanished while it was being hashed ({exc.strerror})") from None
    if (now.st_size, now.st_mtime_ns, now.st_ino) != (after.st_size, after.st_mtime_ns, after.st_ino):
        raise FileChangedError(path, "file changed while it was being hashed (size, mtime or inode differ)")
    if read != before.st_size:
        raise FileChangedError(path, f"read {read} bytes but the file has {before.st_size}")


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    """(size, mtime_ns, inode): what the archive index compares to decide a re-hash."""
    return st.st_size, st.st_mtime_ns, st.st_ino
