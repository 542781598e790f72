"""Bounded reading of JSON request bodies, shared by the manager and the worker's control server.

`read_capped` reads at most `limit` bytes of a body (more is `BodyTooLarge`, before anything is
parsed); `loads` parses JSON and refuses nesting deeper than `max_depth` (`TooDeep`) instead of
letting the decoder, or whatever walks the result later, run out of stack. Both errors are
ValueErrors whose text is fit for a 4xx reply. Pure (no aiohttp import): `read_capped` only needs an
object with `content_length` and a `content` stream (an aiohttp request).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import CodecError, TunasyncError

MAX_DEPTH = 32  # deeper than any message of tunasync, Go's or ours (they nest at most 4 levels)


class BodyTooLarge(TunasyncError, ValueError):
    def __init__(self, limit: int):
        super().__init__(f"request body too large (limit {limit} bytes)")
        self.limit = limit


class TooDeep(CodecError):
    def __init__(self, max_depth: int):
        super().__init__(f"JSON nested too deeply (limit {max_depth} levels)")
        self.max_depth = max_depth


async def read_capped(request: Any, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(min(65536, limit + 1 - size))
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def depth(obj: Any, max_depth: int = MAX_DEPTH) -> int:
    """Nesting depth of a decoded JSON value (a scalar is 0); stops counting past `max_depth`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        value, d = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        d += 1
        if d > deepest:
            deepest = d
            if d > max_depth:
                return d
        stack.extend((c, d) for c in children if isinstance(c, dict | list))
    return deepest


def check_depth(obj: Any, max_depth: int = MAX_DEPTH) -> Any:
    if depth(obj, max_depth) > max_depth:
        raise TooDeep(max_depth)
    return obj


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads with a nesting limit: TooDeep past `max_depth`, ValueError for malformed text."""
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise TooDeep(max_depth) from None
    return check_depth(obj, max_depth)
