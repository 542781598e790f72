"""The rsync rules file of an archived mirror, and the old per-path exclude list.

`index_dir/<mirror>/exclude.txt` holds a fixed handful of rules, whatever the number of evicted files:
it is what the rsync providers pass with `--exclude-from` and what command providers find in
`TUNASYNC_ARCHIVE_EXCLUDE` (it reads the same with `--exclude-from FILE` and `--filter='merge FILE'`).
Today its one rule keeps our in-progress retrievals (`.tunasync-*`, written by `tunasync serve` beside
the final name) away from `--delete`. Evicted files are kept from coming back by the shadow tree
(`shadow.py`, `--compare-dest`; `TUNASYNC_ARCHIVE_COMPARE_DEST` for command providers), whose cost does
not grow with files x evicted files and which sends nothing to the upstream.

`write_exclude_file` writes the earlier form, one anchored pattern per path, for tools that want such a
list; rsync compares every listed name with every pattern of it, so it is quadratic at mirror scale.
Wildcard characters in names are escaped (rsync honours backslash escapes once a pattern contains a
wildcard character). Names with a newline cannot be written to a line-based list: such files are never
evicted (see `evictable_name`). Both files are written atomically so rsync never reads half a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_WILD = "*?[\\"
RULES_HEADER = "# tunasync archive rules: rsync --exclude-from FILE, or --filter='merge FILE'"


def evictable_name(path: str) -> bool:
    return "\n" not in path and "\r" not in path


def pattern(path: str) -> str:
    p = "/" + path.lstrip("/")
    if any(c in p for c in _WILD):
        p = "".join("\\" + c if c in _WILD else c for c in p)
    return p


def _replace(dest: str, lines: Iterable[str]) -> None:
    tmp = f"{dest}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as f:
        for line in lines:
            f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest)


def write_rules_file(dest: str, temp_prefix: str) -> None:
    """Atomically replace `dest` with the mirror's fixed rules (no per-file line); nothing is written
    when it already holds them."""
    lines = [RULES_HEADER, f"- {temp_prefix}*"]
    try:
        with open(dest, encoding="utf-8") as f:
            if f.read() == "".join(line + "\n" for line in lines):
                return
    except (OSError, UnicodeDecodeError):
        pass
    _replace(dest, lines)


def write_exclude_file(dest: str, paths: Iterable[str], raw: Iterable[str] = ()) -> int:
    """Atomically replace `dest` with `raw` patterns as they are, then anchored patterns for `paths`;
    returns how many paths were written."""
    n = 0

    def lines() -> Iterable[str]:
        nonlocal n
        yield from raw
        for p in sorted(paths):
            if evictable_name(p):
                n += 1
                yield pattern(p)

    _replace(dest, lines())
    return n
