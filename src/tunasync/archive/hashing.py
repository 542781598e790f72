"""Hash the files a scan found new or changed (state `local`) into UnixFS CIDs, on threads.

The CID is recorded only when the file still has the (size, mtime_ns, inode) the scan saw, before and
after hashing (the open file's fstat before and after the read, then the path's stat; a large file's
`unixfs.file_cid` raises FileChangedError likewise), and `index.set_hashed_many` refuses a row that
moved on meanwhile: a file upstream rewrites during hashing stays `local` (listed in `changed`) and is
hashed again on the next scan, never recorded with a wrong CID.

Mirrors are mostly small files, where per-file overhead, not SHA-256, is the cost: a file of at most
one chunk is one leaf (its CID is the leaf's), read whole with a single read(), and such files go to
the workers in batches rather than one future each. Under a raw-leaves profile a batch is hashed by the
native core (`_walk.hash_leaves`: the same checks, SHA-256 from the libcrypto hashlib uses) in one call
without the GIL; in Python each syscall takes the GIL back and two threads mostly wait for each other.
A larger file's chunk digests come likewise from one native call (`_walk.chunk_digests`), and the
DAG over them is built by FileBuilder as `file_cid` builds it (which other profiles still use). The
calling thread records CIDs (SQLite drops the GIL too). TUNASYNC_NO_NATIVE_WALK=1 keeps all in Python.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import cast

from ..content.chunker import hash_threads, stat_key
from ..content.cid import CID, RAW, SHA2_256
from ..content.filedag import FileBuilder, make_leaf
from ..content.unixfs import FileChangedError, Profile, file_cid, get_profile
from ..errors import ContentError
from . import scan as _scan
from .index import ArchiveIndex

Progress = Callable[[int, int], None]  # (files done, bytes done) increments
Expect = tuple[int, int, int]  # (size, mtime_ns, inode) as the scan recorded it
Outcome = tuple[str, str | None, str]  # (path, CID or None, "" | "changed" | "vanished" | error)

_BATCH_FILES, _BATCH_BYTES = 256, 8 << 20  # one worker task of small files
_RECORD_ROWS, _RECORD_SECONDS = 4096, 1.0  # one index transaction
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # never a symlink; a FIFO never blocks


@dataclass
class HashResult:
    hashed: int = 0
    bytes: int = 0
    changed: list[str] = field(default_factory=list)  # changed while hashed: left `local`
    errors: list[tuple[str, str]] = field(default_factory=list)


def _native_for(prof: Profile) -> ModuleType | None:
    """The native core, for profiles whose leaves are raw (a leaf's CID is CIDv1 raw of its bytes)."""
    native = _scan._native()
    if native is None or not prof.raw_leaves or prof.cid_version != 1 or not _has_sha256(native):
        return None
    return native


@functools.cache
def _has_sha256(native: ModuleType) -> bool:
    try:  # an empty batch only loads SHA256 from libcrypto (dlopen: no headers needed to build)
        native.hash_leaves("/", [], b"")
    except RuntimeError:
        return False
    return True


def _fits(e: Expect) -> bool:  # C takes int64 sizes and mtimes
    return -(1 << 63) < e[1] < (1 << 63) and 0 <= e[0] < (1 << 63)


def _hash_small(root: str, items: list[Job], prof: Profile) -> list[str | int | Outcome]:
    """CIDs of one-leaf files, aligned with `items`: natively a CID text or a code (see `_why`), in
    Python an Outcome."""
    native = _native_for(prof)
    if native is None or not all(_fits((e[1], e[2], e[3])) for e in items):
        return [_small_one(root, e[0], (e[1], e[2], e[3]), prof) for e in items]
    got: list[str | int | Outcome] = native.hash_leaves(root, items, _RAW_PREFIX)
    return got


_RAW_PREFIX = CID(1, RAW, SHA2_256, bytes(32)).bytes[:-32]


def _why(code: int, root: str, rel: str) -> str:
    return {-1: "changed", -2: "vanished"}.get(code) or f"{os.path.join(root, rel)}: {os.strerror(code)}"


def _small_one(root: str, rel: str, expect: Expect, prof: Profile) -> Outcome:
    """A file of at most one chunk: its CID is its only leaf's. The scan's stat came before the open,
    so one fstat after the read brackets it (as `_walk.hash_leaves` does)."""
    full = os.path.join(root, rel)
    try:
        fd = os.open(full, _OPEN_FLAGS)
    except FileNotFoundError:
        return rel, None, "vanished"
    except OSError as exc:
        return rel, None, "changed" if exc.errno == errno.ELOOP else f"{full}: {exc.strerror or exc}"
    data: bytes | None = None
    failed: OSError | None = None
    try:
        try:
            data = os.read(fd, expect[0] + 1)  # one byte more: a file that grew shows
        except OSError as exc:  # a directory's EISDIR, say: the stat below tells what it means
            failed = exc
        after = os.fstat(fd)
    except OSError as exc:
        return rel, None, f"{full}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if not stat.S_ISREG(after.st_mode) or stat_key(after) != expect:
        return rel, None, "changed"
    if failed is not None or data is None:
        return rel, None, f"{full}: {failed.strerror if failed else 'read failed'}"
    if len(data) != expect[0]:
        return rel, None, "changed"
    return rel, str(make_leaf(prof, data)[0]), ""


def _hash_large(root: str, rel: str, expect: Expect, prof: Profile) -> list[str | int | Outcome]:
    native = _native_for(prof)
    if native is not None and _fits(expect):
        got = native.chunk_digests(root, os.fsencode(rel), *expect, prof.chunk_size)
        if isinstance(got, int):
            return [(rel, None, _why(got, root, rel))]
        builder, left = FileBuilder(prof, keep_blocks=False), expect[0]
        for i in range(0, len(got), 32):
            n = min(prof.chunk_size, left)
            builder.add_leaf(CID(1, RAW, SHA2_256, got[i:i + 32]), n, n)  # a raw leaf's Tsize is its size
            left -= n
        return [(rel, str(builder.finish().root), "")]
    full = os.path.join(root, rel)
    try:
        if stat_key(os.stat(full, follow_symlinks=False)) != expect:
            return [(rel, None, "changed")]
        node = file_cid(full, prof)
        if stat_key(os.stat(full, follow_symlinks=False)) != expect:
            return [(rel, None, "changed")]
    except FileNotFoundError:
        return [(rel, None, "vanished")]
    except FileChangedError:
        return [(rel, None, "changed")]
    except (ContentError, OSError) as exc:
        return [(rel, None, str(exc))]
    return [(rel, str(node.cid), "")]


Job = tuple[str, int, int, int]  # (path, size, mtime_ns, inode) as the scan saw it
Hashed = tuple[str, int, int, int, str]  # a job and its CID
Failed = tuple[Job, str]  # a job and why it has no CID: "changed" | "vanished" | an error

_PAGE = 4096  # `local` rows read from the index at a time


def _tasks(todo: list[Job], chunk: int) -> tuple[list[Job], list[list[Job]]]:
    """Large files one by one (largest first: they start early and spread over the pool), small ones
    in batches."""
    large = sorted((t for t in todo if t[1] > chunk), key=lambda t: -t[1])
    small = [t for t in todo if t[1] <= chunk] if large else todo
    batches: list[list[Job]] = []
    i = 0
    while i < len(small):  # _BATCH_FILES files, fewer when they add up to _BATCH_BYTES
        j, size = i, 0
        while j < len(small) and j - i < _BATCH_FILES and size < _BATCH_BYTES:
            size += small[j][1]
            j += 1
        batches.append(small[i:j])
        i = j
    return large, batches


def _sort_out(root: str, jobs: list[Job], got: list[str | int | Outcome], hashed: list[Hashed],
              failed: list[Failed]) -> int:
    """Split a batch's results into hashed rows and failures; returns the bytes hashed."""
    nbytes = 0
    for e, r in zip(jobs, got, strict=True):
        if type(r) is str:
            hashed.append((e[0], e[1], e[2], e[3], r))
            nbytes += e[1]
        elif type(r) is int:
            failed.append((e, _why(r, root, e[0])))
        else:
            _, cid, why = cast(Outcome, r)
            if cid is None:
                failed.append((e, why))
            else:
                hashed.append((e[0], e[1], e[2], e[3], cid))
                nbytes += e[1]
    return nbytes


class HashStream:
    """Files hashed as they are found: each `submit` hands its jobs to the workers in batches and
    returns the outcomes finished so far, in submission order. At most a few batches per worker are in
    flight (submit waits for the oldest), so memory does not grow with the tree. The pool is the
    caller's when given (one limit for all archive work), else one of its own, closed by `close`."""

    def __init__(self, root: str, profile: str, *, pool: Executor | None = None, threads: int | None = None,
                 progress: Progress | None = None):
        self.root, self.profile, self.prof = root, profile, get_profile(profile)
        workers = threads or hash_threads()
        self._own = pool is None
        self._pool: Executor = pool if pool is not None else ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="archive-hash")
        self._depth = 2 * workers + 2
        self._queue: deque[tuple[list[Job], Future[list[str | int | Outcome]]]] = deque()
        self._progress = progress

    def submit(self, jobs: list[Job], hashed: list[Hashed], failed: list[Failed]) -> None:
        """Queue `jobs`; what is finished meanwhile (in submission order) goes to `hashed` and `failed`."""
        large, batches = _tasks(jobs, self.prof.chunk_size)
        for e in large:
            self._queue.append(([e], self._pool.submit(_hash_large, self.root, e[0], (e[1], e[2], e[3]), self.prof)))
            self._drain(self._depth, hashed, failed)
        for b in batches:
            self._queue.append((b, self._pool.submit(_hash_small, self.root, b, self.prof)))
            self._drain(self._depth, hashed, failed)

    def finish(self, hashed: list[Hashed], failed: list[Failed]) -> None:
        """Every outcome still to come (waits for them)."""
        self._drain(0, hashed, failed)

    def _drain(self, keep: int, hashed: list[Hashed], failed: list[Failed]) -> None:
        while self._queue and (len(self._queue) > keep or self._queue[0][1].done()):
            jobs, fut = self._queue.popleft()
            before = len(hashed)
            nbytes = _sort_out(self.root, jobs, fut.result(), hashed, failed)
            if self._progress and len(hashed) > before:
                self._progress(len(hashed) - before, nbytes)

    def close(self) -> None:
        for _, fut in self._queue:
            fut.cancel()
        self._queue.clear()
        if self._own:
            self._pool.shutdown(wait=True, cancel_futures=True)


def hash_pending(index: ArchiveIndex, root: str, profile: str, *, progress: Progress | None = None,
                 threads: int | None = None, limit: int | None = None, pool: Executor | None = None) -> HashResult:
    """CIDs for every `local` file of the index that is on disk (blocking; run in a thread). The rows are
    read a page at a time and recorded a batch at a time: memory stays flat however many there are."""
    res = HashResult()
    stream = HashStream(root, profile, pool=pool, threads=threads, progress=progress)
    hashed: list[Hashed] = []
    failed: list[Failed] = []
    last = time.monotonic()
    after, left = 0, limit

    def take(final: bool = False) -> None:
        nonlocal hashed, last
        for (rel, *_), why in failed:
            if why in ("changed", "vanished"):
                res.changed.append(rel)
            else:
                res.errors.append((rel, why))
        failed.clear()
        if hashed and (final or len(hashed) >= _RECORD_ROWS or time.monotonic() - last >= _RECORD_SECONDS):
            batch = [(h[0], (h[1], h[2], h[3]), h[4]) for h in hashed]
            res.bytes += sum(h[1] for h in hashed)
            res.hashed += _record(index, batch, profile, res)
            hashed, last = [], time.monotonic()

    try:
        while left is None or left > 0:
            page = index.pending_page(after, _PAGE if left is None else min(_PAGE, left))
            if not page:
                break
            after = page[-1][0]
            if left is not None:
                left -= len(page)
            stream.submit([(f.path, f.size, f.mtime_ns, f.inode) for _, f in page], hashed, failed)
            take()
        stream.finish(hashed, failed)
        take(final=True)
    finally:
        stream.close()
    res.changed.sort()
    res.errors.sort()
    return res


def _record(index: ArchiveIndex, batch: list[tuple[str, Expect, str]], profile: str, res: HashResult) -> int:
    refused = index.set_hashed_many(batch, profile)
    if refused:  # the row moved on while we hashed (a rescan, say): that CID is not recorded
        res.changed += refused
        gone = set(refused)
        res.bytes -= sum(e[0] for p, e, _ in batch if p in gone)
    return len(batch) - len(refused)
