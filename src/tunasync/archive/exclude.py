"""The exclude list that keeps rsync from fetching evicted files back.

One anchored rsync pattern per evicted path (`/pub/old.iso`). Wildcard characters in names are escaped
(rsync honours backslash escapes once a pattern contains a wildcard character). Names with a newline
cannot be written to a line-based list: such files are never evicted (see `evictable_name`).
Written atomically so rsync never reads half a list.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_WILD = "*?[\\"


def evictable_name(path: str) -> bool:
    return "\n" not in path and "\r" not in path


def pattern(path: str) -> str:
    p = "/" + path.lstrip("/")
    if any(c in p for c in _WILD):
        p = "".join("\\" + c if c in _WILD else c for c in p)
    return p


def write_exclude_file(dest: str, paths: Iterable[str], raw: Iterable[str] = ()) -> int:
    """Atomically replace `dest` with `raw` patterns as they are, then anchored patterns for `paths`;
    returns how many paths were written."""
    tmp = f"{dest}.tmp.{os.getpid()}"
    n = 0
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        for r in raw:
            f.write(r + "\n")
        for p in sorted(paths):
            if evictable_name(p):
                f.write(pattern(p) + "\n")
                n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    return n
