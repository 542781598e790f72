"""Plan a trustless-gateway CAR response as byte ranges of the provider's stored CARs.

Our stored CARs are DFS-ordered and each section (`varint ‖ CID ‖ block`) is contiguous on disk, so
a DFS-ordered response is a list of file ranges (adjacent ones merged): for a whole file stored as its
own CAR that is one range, sent with `sendfile`. Sections that are not on disk in that shape are
carried as bytes.

The walk is given (`trustless.walk` for the scope asked); raw leaves are never read for it (the
walks pass them through unread), so planning costs only the interior nodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ...content.cid import CID, RAW, encode_varint

Locate = Callable[[CID], "tuple[str, int, int] | None"]
Walk = Callable[[Callable[[CID], bytes]], Iterator[tuple[CID, bytes]]]


@dataclass
class Part:
    path: str | None  # None: `data` holds the bytes
    start: int = 0
    end: int = 0
    data: bytes = b""

    @property
    def size(self) -> int:
        return len(self.data) if self.path is None else self.end - self.start


def plan(locate: Locate, walk: Walk) -> list[Part]:
    """The sections `walk(get_block)` yields, as parts; KeyError when a block of the walk is not held
    (the caller truncates, as gateways do)."""
    fds: dict[str, int] = {}
    where: dict[CID, tuple[str, int, int]] = {}

    def fd_of(path: str) -> int:
        if path not in fds:
            fds[path] = os.open(path, os.O_RDONLY)
        return fds[path]

    def get_block(cid: CID) -> bytes:
        loc = where.get(cid) or locate(cid)
        if loc is None:
            raise KeyError(cid)
        where[cid] = loc
        if cid.codec == RAW:
            return b""  # a leaf: the walk does not look inside
        path, off, length = loc
        return os.pread(fd_of(path), length, off)

    parts: list[Part] = []
    try:
        for cid, _ in walk(get_block):
            path, off, length = where[cid]
            cb = cid.bytes
            head = encode_varint(len(cb) + length) + cb
            start = off - len(head)
            if start >= 0 and os.pread(fd_of(path), len(head), start) == head:
                last = parts[-1] if parts else None
                if last is not None and last.path == path and last.end == start:
                    last.end = off + length
                else:
                    parts.append(Part(path, start, off + length))
            else:
                parts.append(Part(None, data=head + os.pread(fd_of(path), length, off)))
    finally:
        for fd in fds.values():
            os.close(fd)
    return parts
