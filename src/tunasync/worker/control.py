"""The worker's control HTTP server (docs/compat.md §4.11) plus `GET /logs/<job>` for `tunasynctl logs`.

`POST /` takes a WorkerCmd: 400 `{"msg":"Invalid request"}` for a body that is not JSON, 406
`{"msg":"Invalid Command"}`, 404 with Go's backtick text for an unknown mirror, 200 `{"msg":"OK"}`.
A body over 64 KiB is 413 and JSON nested deeper than `safejson.MAX_DEPTH` is the same 400.
When `[manager] token` (or env TUNASYNC_TOKEN) is set, every request must carry
`Authorization: Bearer <token>`: 401 without one, 403 with a different one. That holds while every
manager the worker registered with announces that it forwards the token (our manager answers the
registration with `X-Tunasync-Command-Auth: bearer`); a Go manager ignores the key and sends no
token, so once one of them accepts the registration the port takes commands without it, as Go's does.
Any other path or method answers gin's `404 page not found` (text/plain), as Go's control server.

`GET /logs/<job>` sends the job's current log file (the `latest` link's target); `?follow=1` keeps
the response open and streams new bytes until the job's run ends.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ..httpguard import GuardedSite, Limits
from ..models import WorkerCmd, gojson, safejson

if TYPE_CHECKING:
    from .config_models import WorkerConfig
    from .job import Job
    from .worker import Worker

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON_TYPE = "application/json; charset=utf-8"
FOLLOW_POLL = 0.2  # seconds between looks at a followed log file
CHUNK = 64 * 1024
KEEPALIVE_SECONDS = 75.0  # idle keep-alive connections of the control port are closed after this long
CMD_BODY = 64 * 1024  # a command is a few hundred bytes


def _msg(status: int, text: str) -> web.Response:
    return web.Response(status=status, body=(gojson.dumps({"msg": text}) + "\n").encode(),
                        headers={"Content-Type": JSON_TYPE})


def _check_token(request: web.Request, token: str) -> web.Response | None:
    if not token:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _msg(401, "missing bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _msg(403, "token does not match this worker's token")
    return None


NOT_FOUND = b"404 page not found"  # gin's default 404 body (gin.go default404Body), text/plain


@web.middleware
async def gin_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods: gin's 404 (Go's router has HandleMethodNotAllowed off, so no 405)."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return web.Response(status=404, body=NOT_FOUND, content_type="text/plain")


def create_control_app(worker: Worker) -> web.Application:
    token = worker.cfg.manager.token

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if worker.client.control_needs_token():
            denied = _check_token(request, token)
            if denied is not None:
                return denied
        return await handler(request)

    async def post_cmd(request: web.Request) -> web.Response:
        try:
            body = await safejson.read_capped(request, CMD_BODY)
        except safejson.BodyTooLarge as exc:
            return _msg(413, str(exc))
        try:
            raw = safejson.loads(body)  # nested too deeply is a ValueError too: Go's 400, not a crash
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            cmd = WorkerCmd.model_validate(raw)
        except ValueError:
            return _msg(400, "Invalid request")
        log.info("received command: %s %s", cmd.cmd.value, cmd.mirror_id)
        status, text = await worker.command(cmd)
        return _msg(status, text)

    async def get_log(request: web.Request) -> web.StreamResponse:
        name = request.match_info["job"]
        job = worker.jobs.get(name)
        if job is None:
            return _msg(404, f"Mirror ``{name}'' not found")
        path = current_log(job.provider.log_dir, job.provider.log_file)
        if path is None:
            return _msg(404, f"no log file for {name} yet")
        follow = request.query.get("follow", "") not in ("", "0", "false")
        return await stream_log(request, path, job if follow else None)

    app = web.Application(middlewares=[gin_not_found, auth] if token else [gin_not_found])
    app.router.add_post("/", post_cmd)
    app.router.add_get("/logs/{job}", get_log)
    from ..metrics import add_metrics_route
    from .metrics import WorkerMetrics

    metrics = WorkerMetrics(worker)
    worker.scheduler.observers.append(metrics.observe)
    add_metrics_route(app, metrics.registry)
    return app


def current_log(log_dir: str, fallback: str) -> str | None:
    """The target of `<log_dir>/latest` (the log limiter keeps it current), else the base log file."""
    latest = os.path.join(log_dir, "latest")
    for candidate in (latest, fallback):
        if candidate and os.path.isfile(candidate):
            return os.path.realpath(candidate)
    return None


async def stream_log(request: web.Request, path: str, follow_job: Job | None) -> web.StreamResponse:
    try:
        f = await asyncio.to_thread(open, path, "rb")
    except OSError as exc:
        return _msg(404, f"cannot open log {path}: {exc.strerror}")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        while True:
            data = await asyncio.to_thread(f.read, CHUNK)
            if data:
                await resp.write(data)
                continue
            if follow_job is None or not follow_job.running:
                break
            try:
                await asyncio.wait_for(follow_job.run_idle.wait(), FOLLOW_POLL)
            except TimeoutError:
                pass
    finally:
        f.close()
    await resp.write_eof()
    return resp


def _server_ssl(cfg: WorkerConfig) -> ssl.SSLContext | None:
    s = cfg.server
    if not (s.ssl_cert or s.ssl_key):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(s.ssl_cert, s.ssl_key)
    return ctx


async def start_control(worker: Worker) -> web.AppRunner:
    """Serve the control app on listen_addr:listen_port (TLS when ssl_cert/ssl_key are set)."""
    s = worker.cfg.server
    # Connection cap and timeouts (httpguard): `[server] max_connections, header_timeout`.
    limits = Limits(max_connections=s.max_connections, header_timeout=s.header_timeout,
                    keepalive_timeout=KEEPALIVE_SECONDS)
    runner = web.AppRunner(create_control_app(worker), access_log=None, handle_signals=False,
                           **limits.runner_kwargs())
    await runner.setup()
    site = GuardedSite(runner, s.listen_addr or None, s.listen_port, ssl_context=_server_ssl(worker.cfg),
                       limits=limits, name="worker control")
    await site.start()
    log.info("control server listening on %s:%s", s.listen_addr, s.listen_port)
    return runner
