"""Sending bytes of a file: headers from `conditional.plan`, the body with sendfile(2).

Like aiohttp's FileResponse (whose Range / 416 handling this follows), but from an already opened
descriptor (the traversal check was made on it), without its surprises for a mirror: no `.gz` sibling
sent with Content-Encoding, ETag-or-date If-Range, one range or the whole file. The body bypasses the
HTTP writer: headers go out on `prepare`, then the kernel copies the file to the socket.
"""

from __future__ import annotations

import asyncio
import io
import os

from aiohttp import web

from .conditional import Plan, Validators, plan
from .mime import content_type

CHUNK = 1 << 20  # the fallback's read size, when sendfile is not available


def response_for(p: Plan, name: str, extra: dict[str, str] | None = None) -> web.StreamResponse:
    """A StreamResponse carrying the plan's status and headers (not yet prepared)."""
    resp = web.StreamResponse(status=p.status, headers={**p.headers, **(extra or {})})
    if p.status in (200, 206):
        resp.content_type = content_type(name)
        resp.content_length = p.length
    elif p.status in (412, 416):
        resp.content_length = 0
    return resp


async def send_range(request: web.BaseRequest, resp: web.StreamResponse, f: io.FileIO, offset: int,
                     count: int) -> None:
    """Copy `count` bytes at `offset` of `f` to the client; ConnectionError when it went away."""
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away")
    loop = asyncio.get_running_loop()
    try:
        await loop.sendfile(transport, f, offset, count, fallback=False)
        return
    except (NotImplementedError, asyncio.SendfileNotAvailableError):
        pass
    # positional reads: other clients may share this file description
    end = offset + count
    while offset < end:
        data = await asyncio.to_thread(os.pread, f.fileno(), min(CHUNK, end - offset), offset)
        if not data:
            raise OSError(f"file ended at byte {offset}")
        await resp.write(data)
        offset += len(data)


def abort(request: web.BaseRequest) -> None:
    """Drop the connection: a client must see a broken transfer, never a clean short body."""
    if request.transport is not None:
        request.transport.abort()


async def send_local(request: web.Request, fd: int, st: os.stat_result, name: str,
                     extra: dict[str, str] | None = None) -> web.StreamResponse:
    """Answer with an open regular file (the descriptor is closed here)."""
    f = io.FileIO(fd, "rb", closefd=True)
    try:
        p = plan(request.method, request.headers, Validators(st.st_size, st.st_mtime_ns))
        resp = response_for(p, name, extra)
        await resp.prepare(request)
        if request.method == "GET" and p.has_body:
            await send_range(request, resp, f, p.start, p.length)
        await resp.write_eof()
        return resp
    finally:
        f.close()
