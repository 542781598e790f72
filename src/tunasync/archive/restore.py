"""Bring an evicted file back into the mirror tree from the network, verified, as `cached`.

The verified bytes go to `.tunasync-<name>.<random>.partial` beside the final path (the scanner skips
that prefix), are fsynced, get the recorded mtime back (so rsync's quick check sees the file
unchanged), and are renamed into place; the index then records `cached` with the new inode. A
retrieval that fails or does not verify leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence

from ..content.cid import CID
from ..filecoin.interfaces import Candidate
from ..fsutil import fsync_dir, unlink_if, unlink_quiet, write_all
from .context import ArchiveCtx
from .index import FileRecord
from .scan import TEMP_PREFIX
from .shadow import drop


def partial_path(full: str) -> str:
    d, name = os.path.split(full)
    return os.path.join(d, f"{TEMP_PREFIX}{name}.{uuid.uuid4().hex[:12]}.partial")


def _open_partial(full: str) -> tuple[int, str]:
    os.makedirs(os.path.dirname(full), exist_ok=True)
    tmp = partial_path(full)
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), tmp


def _finish(fd: int, tmp: str, full: str, mtime_ns: int) -> int | None:
    """Put the verified file in place without ever replacing one (rsync may have fetched a new version
    meanwhile: that one wins); the new inode, or None when something was already there."""
    os.fsync(fd)
    os.close(fd)
    os.utime(tmp, ns=(mtime_ns, mtime_ns))
    try:
        os.link(tmp, full)  # unlike rename, never clobbers
    except FileExistsError:
        os.unlink(tmp)
        return None
    os.unlink(tmp)
    fsync_dir(os.path.dirname(full))
    return os.stat(full, follow_symlinks=False).st_ino


async def restore_file(ctx: ArchiveCtx, rec: FileRecord, candidates: Sequence[Candidate] | None = None) -> bool:
    """Retrieve an evicted file into place; True when it is on disk and `cached` (ContentError/NetworkError
    when no candidate delivered verified bytes)."""
    assert rec.cid is not None
    net = ctx.need_net()
    full = os.path.join(ctx.ms.root, rec.path)
    fd, tmp = await asyncio.to_thread(_open_partial, full)
    size = 0
    try:
        async for chunk in net.retriever.stream(CID.decode(rec.cid), candidates=candidates):
            await asyncio.to_thread(write_all, fd, chunk)
            size += len(chunk)
        if size != rec.size:
            raise ValueError(f"{rec.path}: retrieved {size} bytes, the index says {rec.size}")
    except BaseException:
        await asyncio.to_thread(_discard, fd, tmp)
        raise
    # the placeholder goes before the file is in place: rsync must never see both (shadow.py)
    await asyncio.to_thread(drop, str(ctx.ms.shadow_dir), rec.path)
    inode = await asyncio.to_thread(_finish, fd, tmp, full, rec.mtime_ns)
    if inode is None:
        return False
    ctx.crash("restore.placed")
    if not await ctx.index.call(ctx.index.mark_cached, rec.path, inode):
        await asyncio.to_thread(unlink_if, full, inode)  # upstream changed it meanwhile: not ours to keep
        return False
    ctx.crash("restore.cached")
    return True


def _discard(fd: int, tmp: str) -> None:
    try:
        os.close(fd)
    finally:
        unlink_quiet(tmp)


