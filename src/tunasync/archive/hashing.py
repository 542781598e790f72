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

import contextlib
import errno
import functools
import os
import stat
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType

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


def _hash_small(root: str, items: list[tuple[str, Expect]], prof: Profile) -> list[Outcome]:
    native = _native_for(prof)
    if native is None or not all(_fits(e) for _, e in items):
        return [_small_one(root, rel, expect, prof) for rel, expect in items]
    prefix = CID(1, RAW, SHA2_256, bytes(32)).bytes[:-32]
    got = native.hash_leaves(root, [(os.fsencode(rel), *e) for rel, e in items], prefix)
    return [(rel, r, "") if isinstance(r, str) else (rel, None, _why(r, root, rel))
            for (rel, _), r in zip(items, got, strict=True)]


def _why(code: int, root: str, rel: str) -> str:
    return {-1: "changed", -2: "vanished"}.get(code) or f"{os.path.join(root, rel)}: {os.strerror(code)}"


def _small_one(root: str, rel: str, expect: Expect, prof: Profile) -> Outcome:
    """A file of at most one chunk: its CID is its only leaf's."""
    full = os.path.join(root, rel)
    try:
        fd = os.open(full, _OPEN_FLAGS)
    except FileNotFoundError:
        return rel, None, "vanished"
    except OSError as exc:
        return rel, None, "changed" if exc.errno == errno.ELOOP else f"{full}: {exc.strerror or exc}"
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or stat_key(before) != expect:
            return rel, None, "changed"
        data = os.read(fd, expect[0] + 1)  # one byte more: a file that grew shows
        after = os.fstat(fd)
        now = os.stat(full, follow_symlinks=False)  # still the file at that path?
    except FileNotFoundError:
        return rel, None, "vanished"
    except OSError as exc:
        return rel, None, f"{full}: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if len(data) != expect[0] or stat_key(after) != expect or stat_key(now) != expect:
        return rel, None, "changed"
    return rel, str(make_leaf(prof, data)[0]), ""


def _hash_large(root: str, rel: str, expect: Expect, prof: Profile) -> list[Outcome]:
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


def _pending(index: ArchiveIndex, limit: int | None) -> list[tuple[str, Expect]]:
    return [(p.path, (p.size, p.mtime_ns, p.inode)) for p in index.db.read(lambda r: r.files.pending_hash(limit))]


def _tasks(todo: list[tuple[str, Expect]], chunk: int) -> tuple[list[tuple[str, Expect]], list[list[tuple[str, Expect]]]]:
    """Large files one by one (largest first: they start early and spread over the pool), small ones
    in batches."""
    large = sorted((t for t in todo if t[1][0] > chunk), key=lambda t: -t[1][0])
    batches: list[list[tuple[str, Expect]]] = [[]]
    size = 0
    for t in todo:
        if t[1][0] > chunk:
            continue
        if len(batches[-1]) >= _BATCH_FILES or size >= _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(t)
        size += t[1][0]
    return large, [b for b in batches if b]


def hash_pending(index: ArchiveIndex, root: str, profile: str, *, progress: Progress | None = None,
                 threads: int | None = None, limit: int | None = None, pool: Executor | None = None) -> HashResult:
    """CIDs for every `local` file of the index that is on disk (blocking; run in a thread).

    `pool`: the archive runtime's hashing workers (shared by every mirror's runs); None: a pool of
    `threads` for this call."""
    prof = get_profile(profile)
    todo = _pending(index, limit)
    expect = dict(todo)
    res = HashResult()
    large, batches = _tasks(todo, prof.chunk_size)
    batch: list[tuple[str, Expect, str]] = []
    last = time.monotonic()
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=threads or hash_threads(),
                                                          thread_name_prefix="archive-hash"))
        futures: list[Future[list[Outcome]]] = [pool.submit(_hash_large, root, rel, e, prof) for rel, e in large]
        futures += [pool.submit(_hash_small, root, b, prof) for b in batches]
        for fut in futures:
            files = nbytes = 0
            for rel, cid, why in fut.result():
                if cid is None:
                    if why in ("changed", "vanished"):
                        res.changed.append(rel)
                    else:
                        res.errors.append((rel, why))
                    continue
                batch.append((rel, expect[rel], cid))
                files += 1
                nbytes += expect[rel][0]
            res.bytes += nbytes
            if progress and files:
                progress(files, nbytes)
            if len(batch) >= _RECORD_ROWS or (batch and time.monotonic() - last >= _RECORD_SECONDS):
                res.hashed += _record(index, batch, profile, res)
                batch, last = [], time.monotonic()
    if batch:
        res.hashed += _record(index, batch, profile, res)
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
