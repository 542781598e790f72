"""Directory index pages: what is on disk merged with what was evicted (marked "evicted").

`collect` (blocking IO: run in a thread) reads the directory and the index rows below it; `render` is a
pure function from entries to HTML. Names are escaped for HTML and percent-encoded in links; our own
in-progress files and upstream-deleted files never appear.
"""

from __future__ import annotations

import html
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from ..archive.index import ArchiveIndex
from ..archive.scan import TEMP_PREFIX
from .paths import within

_AFTER_SLASH = chr(ord("/") + 1)  # "a0" sorts right after every "a/..." key


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int = 0
    mtime: float = 0.0
    evicted: bool = False


def disk_entries(path: str, root: str) -> dict[str, Entry]:
    """What is on disk in `path`. A symlink is listed as what it points at only when that lies inside
    `root` (debian's `stable -> bookworm` lists as a directory); one that leads out of the root (or
    nowhere) is not listed, and nothing outside the root is ever looked at for its size or date."""
    out: dict[str, Entry] = {}
    try:
        it = os.scandir(path)
    except (FileNotFoundError, NotADirectoryError):
        return out
    with it:
        for e in it:
            if e.name.startswith(TEMP_PREFIX):
                continue
            try:
                st = e.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    real = os.path.realpath(e.path)
                    if not within(root, real):
                        continue  # serving it would be a 404 too
                    st = os.stat(real, follow_symlinks=False)
            except OSError:
                continue  # a dangling link
            if stat.S_ISDIR(st.st_mode):
                out[e.name] = Entry(e.name, True, 0, st.st_mtime)
            elif stat.S_ISREG(st.st_mode):
                out[e.name] = Entry(e.name, False, st.st_size, st.st_mtime)
    return out


def evicted_entries(index: ArchiveIndex, rel_dir: str, limit: int | None = None) -> dict[str, Entry]:
    """Evicted, not deleted files directly in `rel_dir`, and subdirectories holding some (at most
    `limit` entries).

    A range scan over the primary key; a subdirectory is skipped over in one step, so a listing costs
    about one query per child, not one row per file below it."""
    prefix = f"{rel_dir}/" if rel_dir else ""
    hi = prefix[:-1] + _AFTER_SLASH if prefix else "\U0010ffff"
    out: dict[str, Entry] = {}
    cursor, inclusive = prefix, True
    while True:
        rows = index.evicted_range(cursor, hi, inclusive, 256)
        if not rows:
            return out
        for path, size, mtime_ns in rows:
            rest = path[len(prefix):]
            child, sep, _ = rest.partition("/")
            if sep:
                out.setdefault(child, Entry(child, True, 0, 0.0, evicted=True))
                cursor, inclusive = prefix + child + _AFTER_SLASH, True
            else:
                out[child] = Entry(child, False, size, mtime_ns / 1e9, evicted=True)
                cursor, inclusive = path, False
            if limit is not None and len(out) >= limit:
                return out
            if sep:
                break


def collect(path: str, index: ArchiveIndex | None, rel_dir: str, root: str) -> list[Entry]:
    """The merged, sorted listing of one directory of the tree at `root` (directories first, then
    files, by name)."""
    entries = disk_entries(path, root)
    if index is not None:
        for name, e in evicted_entries(index, rel_dir).items():
            entries.setdefault(name, e)  # what is on disk wins (a cached copy, a live directory)
    return sorted(entries.values(), key=lambda e: (not e.is_dir, e.name))


def _display(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _href(name: str) -> str:
    return quote(name.encode("utf-8", "surrogateescape"), safe="") if name else ""


def _size(n: int) -> str:
    if n < 1024:
        return str(n)
    x = float(n)
    for unit in ("K", "M", "G", "T"):
        x /= 1024
        if x < 1024 or unit == "T":
            break
    return f"{x:.1f}{unit}"


def render(title_path: str, entries: list[Entry], parent: bool = True) -> str:
    """An nginx-autoindex-like page; evicted files carry an "evicted" mark (still downloadable)."""
    title = html.escape(_display(title_path))
    rows = ['<a href="../">../</a>'] if parent else []
    for e in entries:
        name = _display(e.name) + ("/" if e.is_dir else "")
        link = _href(e.name) + ("/" if e.is_dir else "")
        when = datetime.fromtimestamp(e.mtime, timezone.utc).strftime("%d-%b-%Y %H:%M") if e.mtime else "-"
        size = "-" if e.is_dir else _size(e.size)
        mark = ' <span class="evicted">evicted</span>' if e.evicted and not e.is_dir else ""
        shown = html.escape(name)
        pad = " " * max(1, 51 - len(name))
        rows.append(f'<a href="{html.escape(link)}">{shown}</a>{pad}{when} {size:>10}{mark}')
    body = "\n".join(rows)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title>\n"
            "<style>.evicted{color:#a60}</style></head>\n"
            f"<body><h1>Index of {title}</h1><hr><pre>{body}\n</pre><hr>"
            "<p><small>evicted: archived on Filecoin; downloading it retrieves and verifies it first.</small></p>"
            "</body></html>\n")
