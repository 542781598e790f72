"""`GET /workers/:id/jobs/:job/log`: the job's current log, proxied from the worker's `GET /logs/:job`.

The body is streamed through chunk by chunk (`?follow=1` is passed on and keeps the stream open);
the worker's status and content type are kept. A worker that cannot be reached gives 502.
"""

from __future__ import annotations

from urllib.parse import quote

import aiohttp
from aiohttp import web

from ..client import auth_headers, worker_url
from ..http import error_reply
from .common import known_worker, state

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # without follow, a silent worker for this long is a failure


async def job_log(request: web.Request) -> web.StreamResponse:
    w = await known_worker(request)
    job = request.match_info["job"]
    follow = request.query.get("follow", "") not in ("", "0", "false")
    url = worker_url(w, "logs/" + quote(job, safe=""))
    params = {"follow": "1"} if follow else None
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT, connect=CONNECT_TIMEOUT, sock_read=None if follow else READ_TIMEOUT
    )
    session = state(request).client
    assert session is not None
    try:
        upstream = await session.get(url, params=params, headers=auth_headers(w), timeout=timeout)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        return error_reply(502, f"worker {w.id}({w.url}) unreachable: {reason}")
    async with upstream:
        resp = web.StreamResponse(status=upstream.status)
        resp.content_type = upstream.content_type or "text/plain"
        if upstream.charset:
            resp.charset = upstream.charset
        resp.headers["Cache-Control"] = "no-cache"
        await resp.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
        except (TimeoutError, aiohttp.ClientError):
            pass  # the worker went away mid-stream: end ours too
        await resp.write_eof()
        return resp


def setup(app: web.Application) -> None:
    app.router.add_get("/workers/{id}/jobs/{job}/log", job_log, allow_head=False)
