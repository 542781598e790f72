"""Has upstream deleted (or replaced) files that we evicted? rsync cannot tell us: evicted paths are not
in the mirror tree, so `--delete` never reaches them. After a successful rsync sync we ask upstream
directly about the evicted files of the directories that may have changed since they were last
confirmed (`check_evicted`; which directories, and why that is enough: shadow.py), with a dry run
restricted to those paths:

    rsync -n -8 --from0 --out-format='%l %M %n' --files-from=EVICTED UPSTREAM EMPTY_DIR

Existing paths are listed with size and mtime; each missing one is a `link_stat ... No such file or
directory` error and exit code 23. A path whose size or mtime differ from the evicted version was
replaced upstream. Both are marked deleted and lose their placeholder: rsync then fetches the new
version (the scan indexes it as a new file) or, for a deleted one, does nothing. Nothing is
marked unless rsync finished with 0 or 23 and every error was such a "no such file": any other failure
(network, auth, a timeout) marks nothing. Marking is harmless anyway: the evicted version's copies
stay known, and a path wrongly marked is simply fetched from upstream again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import time

from ..childenv import child_env
from .index import ArchiveIndex
from .settings import MirrorArchive
from .shadow import ROTATE, confirm, dirs_to_check, drop, reconcile

log = logging.getLogger(__name__)

# from a daemon the module is named: `link_stat "pool/a.deb" (in debian) failed: No such file or directory`
_NO_SUCH = re.compile(r'link_stat ".*"(?: \(in [^)]*\))? failed: No such file or directory')
_NOISE = re.compile(r"^rsync error: some files/attrs were not transferred|^rsync: \[sender\] link_stat ")


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _local_mtime(mtime_ns: int) -> str:
    return time.strftime("%Y/%m/%d-%H:%M:%S", time.localtime(mtime_ns // 1_000_000_000))


async def deleted_upstream(ms: MirrorArchive, evicted: dict[str, tuple[int, int]],
                           limit_s: float = 600.0) -> list[str] | None:
    """Evicted paths (path -> (size, mtime_ns)) upstream no longer has as we evicted them; None when
    upstream could not be asked reliably."""
    if not evicted:
        return []
    if not ms.upstream or not ms.provider.rsync:
        return None  # a command provider's upstream is not something rsync can list
    with tempfile.TemporaryDirectory(prefix="tunasync-upstream-") as tmp:
        listing = os.path.join(tmp, "evicted")
        data = b"\0".join(os.fsencode(p) for p in evicted) + b"\0"
        await asyncio.to_thread(_write, listing, data)
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        argv = [ms.rsync_cmd, "-n", "-t", "-8", "--from0", "--out-format=%l %M %n", f"--files-from={listing}",
                ms.upstream if ms.upstream.endswith("/") else ms.upstream + "/", empty + "/"]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=child_env(ms.rsync_env))
        try:
            out, err = await asyncio.wait_for(proc.communicate(), limit_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.warning("archive %s: upstream check timed out after %.0f s", ms.name, limit_s)
            return None
    errors = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
    if proc.returncode not in (0, 23) or any(not _NOISE.search(ln) for ln in errors) \
            or sum(1 for ln in errors if _NO_SUCH.search(ln)) == 0 and proc.returncode == 23:
        log.warning("archive %s: upstream check failed (rsync exit %s): %s", ms.name, proc.returncode,
                    "; ".join(errors[-3:]))
        return None
    listed: dict[str, tuple[str, str]] = {}
    for line in out.split(b"\n"):
        parts = line.split(b" ", 2)
        if len(parts) == 3:
            listed[os.fsdecode(parts[2])] = (parts[0].decode(), parts[1].decode())
    gone = []
    for path, (size, mtime_ns) in evicted.items():
        seen = listed.get(path)
        if seen is None or seen != (str(size), _local_mtime(mtime_ns)):
            gone.append(path)
    return gone


async def check_evicted(ms: MirrorArchive, index: ArchiveIndex, *, now_ns: int | None = None,
                        rotate: int = ROTATE) -> list[str] | None:
    """After a successful sync: the evicted paths upstream removed or replaced, asking upstream only about
    the directories whose mtime moved since their evicted files were last confirmed (or that are too
    young to trust, or whose turn it is in the rotation). None when upstream could not be asked."""
    if not ms.upstream or not ms.provider.rsync:
        return None
    now = now_ns if now_ns is not None else time.time_ns()
    root = str(ms.shadow_dir)

    def ensure() -> None:
        if not os.path.isdir(root):  # evictions from before the shadow tree existed
            reconcile(root, index.evicted_by_path())

    await asyncio.to_thread(ensure)
    checks, seen = await asyncio.to_thread(dirs_to_check, root, ms.root, now, slot=now // 3_600_000_000_000,
                                           rotate=rotate, trust_mtimes=ms.dir_times)
    if not checks:
        return []

    def collect() -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for c in checks:
            out.update(index.evicted_in_dir(c.rel))
        return out

    evicted = await asyncio.to_thread(collect)
    gone = await deleted_upstream(ms, evicted)
    if gone is None:
        return None

    def finish() -> None:
        for p in gone:
            drop(root, p)
        for c in checks:
            confirm(root, c, now)

    await asyncio.to_thread(finish)
    log.info("archive %s: upstream check: %d evicted file(s) asked about in %d of %d directories, %d gone",
             ms.name, len(evicted), len(checks), seen, len(gone))
    return gone
