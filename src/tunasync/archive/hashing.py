"""Hash the files a scan found new or changed (state `local`) into UnixFS CIDs, on threads.

The CID is recorded only when the file still has the (size, mtime_ns, inode) the scan saw, before and
after hashing (`unixfs.file_cid` raises FileChangedError when the file changes while it is read, and
`index.set_hashed` refuses a row that moved on): a file upstream rewrites during hashing stays
`local` and is hashed again on the next scan, never recorded with a wrong CID.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..content.chunker import hash_threads, stat_key
from ..content.unixfs import file_cid
from ..errors import ContentError
from .index import ArchiveIndex
from .states import FileState

Progress = Callable[[int, int], None]  # (files done, bytes done) increments


@dataclass
class HashResult:
    hashed: int = 0
    bytes: int = 0
    changed: list[str] = field(default_factory=list)  # changed while hashed: left `local`
    errors: list[tuple[str, str]] = field(default_factory=list)


def _hash_one(root: str, rel: str, expect: tuple[int, int, int], profile: str) -> tuple[str, str | None, str]:
    full = os.path.join(root, rel)
    try:
        if stat_key(os.stat(full, follow_symlinks=False)) != expect:
            return rel, None, "changed"
        node = file_cid(full, profile)
        if stat_key(os.stat(full, follow_symlinks=False)) != expect:
            return rel, None, "changed"
    except FileNotFoundError:
        return rel, None, "vanished"
    except (ContentError, OSError) as exc:
        return rel, None, str(exc)
    return rel, str(node.cid), ""


def hash_pending(index: ArchiveIndex, root: str, profile: str, *, progress: Progress | None = None,
                 threads: int | None = None, limit: int | None = None) -> HashResult:
    """CIDs for every `local` file of the index that is on disk (blocking; run in a thread)."""
    todo = [(r.path, (r.size, r.mtime_ns, r.inode)) for r in index.files(FileState.LOCAL)]
    if limit is not None:
        todo = todo[:limit]
    res = HashResult()
    size_of = {p: e[0] for p, e in todo}
    # Small files dominate mirrors: hash many files at once (file_cid parallelises inside big files).
    with ThreadPoolExecutor(max_workers=threads or hash_threads(), thread_name_prefix="archive-hash") as pool:
        futures = [pool.submit(_hash_one, root, p, e, profile) for p, e in todo]
        batch: list[tuple[str, tuple[int, int, int], str]] = []
        expect = dict(todo)
        for fut in futures:
            rel, cid, why = fut.result()
            if cid is None:
                if why in ("changed", "vanished"):
                    res.changed.append(rel)
                else:
                    res.errors.append((rel, why))
                continue
            batch.append((rel, expect[rel], cid))
            if len(batch) >= 512:
                res.hashed += _record(index, batch, profile, res)
                batch = []
            res.bytes += size_of[rel]
            if progress:
                progress(1, size_of[rel])
        if batch:
            res.hashed += _record(index, batch, profile, res)
    return res


def _record(index: ArchiveIndex, batch: list[tuple[str, tuple[int, int, int], str]], profile: str,
            res: HashResult) -> int:
    refused = index.set_hashed_many(batch, profile)
    res.changed += refused
    return len(batch) - len(refused)
