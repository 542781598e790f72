"""Request paths to files, with traversal made impossible.

`parse_path` (pure) turns the raw request target into decoded segments. Each segment is percent-decoded
on its own, so an encoded slash (`%2f`) can never create a new segment; `.`/`..` in any spelling
(`%2e%2e`), NUL, backslashes and invalid escapes are refused outright (400), never "normalised".

`open_beneath` (IO) resolves symlinks and opens the file, then asks the kernel where the open file
really is (`/proc/self/fd`): whatever a symlink or a race pointed us at, nothing outside the tree's
root is ever served. Symlinks *inside* the tree (debian's `stable -> bookworm`) work as usual.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ..archive.scan import TEMP_PREFIX
from ..errors import ServeError


class BadPath(ServeError, ValueError):
    """The request path can never name a file (answered 400)."""


@dataclass(frozen=True)
class RequestPath:
    segments: tuple[str, ...]  # decoded, each a plain file name
    trailing_slash: bool  # "/dir/" (or the root)

    @property
    def rel(self) -> str:
        return "/".join(self.segments)


def parse_path(raw_target: str) -> RequestPath:
    """Decode the path part of a raw request target (`/a/b%20c?x=1`) into safe segments."""
    path = raw_target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        raise BadPath("path must start with /")
    segments = []
    for raw in path.split("/"):
        if not raw:
            continue  # "//" collapses, as in nginx
        try:
            seg = unquote_to_bytes(raw).decode("utf-8", "surrogateescape")
        except ValueError:
            raise BadPath("undecodable path segment") from None
        if seg in (".", ".."):
            raise BadPath("dot segments are not allowed")
        if "/" in seg or "\\" in seg or "\x00" in seg:
            raise BadPath("encoded slash, backslash or NUL in the path")
        segments.append(seg)
    return RequestPath(tuple(segments), path.endswith("/") or not segments)


def hidden(segments: tuple[str, ...]) -> bool:
    """Our own in-progress files (`.tunasync-*`) are never served, listed or retrieved."""
    return any(s.startswith(TEMP_PREFIX) for s in segments)


@dataclass(frozen=True)
class Target:
    """Where a request lands inside a tree."""

    kind: str  # "file" | "dir" | "missing" | "outside" | "special"
    real: str  # the resolved absolute path (may not exist)
    rel: str  # that path relative to the root, "/"-separated ("" for the root): the index key
    st: os.stat_result | None = None
    fd: int | None = None  # an open file descriptor for "file" (the caller closes it)


def within(root_real: str, real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _rel(root_real: str, real: str) -> str:
    rel = os.path.relpath(real, root_real)
    return "" if rel == "." else rel.replace(os.sep, "/")


def open_beneath(root_real: str, segments: tuple[str, ...]) -> Target:
    """Resolve and (for a regular file) open `segments` under `root_real` (blocking: run in a thread)."""
    real = os.path.realpath(os.path.join(root_real, *segments))
    if not within(root_real, real):
        return Target("outside", real, "")
    rel = _rel(root_real, real)
    if hidden(tuple(rel.split("/"))):
        return Target("missing", real, rel)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP: a symlink loop, or one swapped in since realpath; EACCES: forbidden
        gone = exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG)
        return Target("missing" if gone else "special", real, rel)
    try:
        st = os.fstat(fd)
        actual = _fd_path(fd, real)
        if not within(root_real, actual):
            os.close(fd)
            return Target("outside", actual, "")
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            return Target("dir", actual, _rel(root_real, actual), st)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return Target("special", actual, _rel(root_real, actual), st)
        os.set_blocking(fd, True)
        return Target("file", actual, _rel(root_real, actual), st, fd)
    except BaseException:
        os.close(fd)
        raise


def _fd_path(fd: int, fallback: str) -> str:
    """The path the kernel has for an open file; `fallback` where /proc is not mounted."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return fallback
