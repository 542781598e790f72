"""`GET /workers/:id/jobs/:job/log`: the job's current log, proxied from the worker's `GET /logs/:job`.

The body is streamed through chunk by chunk (`?follow=1` is passed on and keeps the stream open);
the worker's status is kept. A worker that cannot be reached gives 502.

What comes back is always served as `text/plain; charset=utf-8` with `nosniff`, whatever the worker
says it is (a log is text; HTML from elsewhere must never run on the manager's origin), at most
`LOG_MAX_BYTES` of it, and only from `<worker>/logs/<job>`: no redirect is followed.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from ..client import auth_headers, target
from ..http import check_name, error_reply
from ..workerurl import BadWorkerURL
from .common import known_worker, state

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0  # without follow, a silent worker for this long is a failure
LOG_MAX_BYTES = 64 * 1024 * 1024  # per request; a longer log is cut with a note (the worker keeps it whole)


async def job_log(request: web.Request) -> web.StreamResponse:
    w = await known_worker(request)
    job = request.match_info["job"]
    check_name(job)
    follow = request.query.get("follow", "") not in ("", "0", "false")
    st = state(request)
    try:
        url = target(st.config, w).log_url(job)
    except BadWorkerURL as exc:
        return error_reply(400, f"worker {w.id} has a URL the manager no longer uses ({exc}): it must register again")
    params = {"follow": "1"} if follow else None
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT, connect=CONNECT_TIMEOUT, sock_read=None if follow else READ_TIMEOUT
    )
    session = st.client
    assert session is not None
    try:
        upstream = await session.get(url, params=params, headers=auth_headers(w), timeout=timeout,
                                     allow_redirects=False)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        return error_reply(502, f"worker {w.id}({w.url}) unreachable: {reason}")
    async with upstream:
        resp = web.StreamResponse(status=upstream.status)
        resp.content_type = "text/plain"
        resp.charset = "utf-8"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-cache"
        await resp.prepare(request)
        left = LOG_MAX_BYTES
        try:
            async for chunk in upstream.content.iter_any():
                if len(chunk) > left:
                    await resp.write(chunk[:left])
                    await resp.write(f"\n[tunasync manager: log truncated at {LOG_MAX_BYTES} bytes]\n".encode())
                    break
                left -= len(chunk)
                await resp.write(chunk)
        except (TimeoutError, aiohttp.ClientError):
            pass  # the worker went away mid-stream: end ours too
        await resp.write_eof()
        return resp


def setup(app: web.Application) -> None:
    app.router.add_get("/workers/{id}/jobs/{job}/log", job_log, allow_head=False)
