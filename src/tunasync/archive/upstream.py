"""Has upstream deleted (or replaced) files that we evicted? rsync cannot tell us: evicted paths are
excluded from the sync, so neither `--delete` nor an update ever reaches them. After a successful rsync
sync we ask upstream directly, with a dry run restricted to the evicted paths:

    rsync -n -8 --from0 --out-format='%l %M %n' --files-from=EVICTED UPSTREAM EMPTY_DIR

Existing paths are listed with size and mtime; each missing one is a `link_stat ... No such file or
directory` error and exit code 23. A path whose size or mtime differ from the evicted version was
replaced upstream. Both are marked deleted, which takes them off the exclude list: rsync then fetches
the new version (the scan indexes it as a new file) or, for a deleted one, does nothing. Nothing is
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
from .settings import MirrorArchive

log = logging.getLogger(__name__)

_NO_SUCH = re.compile(r'link_stat ".*" failed: No such file or directory')
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
