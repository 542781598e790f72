"""The manager's HTTP server (docs/compat.md §3.3–§3.4): aiohttp app, gin-like routing rules, startup/shutdown.

Extension points for the status page, /metrics, /mirrorz.json and the status-file writer:
- `create_app(config, db, extra_setup=[fn, ...])` calls each `fn(app)` before the app freezes, so
  it can add routes (their auth is in `auth.PUBLIC`) and startup/cleanup hooks;
- `app[STATE].on_status_change` is a list of callbacks, each called with a `StatusChange` after
  every stored status change (update, size, schedule, stop/disable, flush);
- `app[STATE].jobs.body()` gives the current `GET /jobs` bytes without re-encoding.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from ..httpguard import GuardedSite, Limits
from ..log import escape_filter
from . import headers
from .auth import IDENTITY, allowed, is_public
from .client import make_session
from .config import ManagerConfig
from .db import Database, open_database
from .http import MAX_BODY, Reply, error_reply, message_reply
from .routes import archive, cmd, history, jobs, logs, workers
from .state import STATE, ManagerState

log = logging.getLogger("tunasync.manager")

AppSetup = Callable[[web.Application], None]
KEEPALIVE_SECONDS = 75.0  # idle keep-alive connections are closed after this long


def limits_of(config: ManagerConfig) -> Limits:
    """Connection cap and timeouts of the HTTP port (httpguard): `[server] max_connections, header_timeout`."""
    s = config.server
    return Limits(max_connections=s.max_connections, header_timeout=s.header_timeout,
                  keepalive_timeout=KEEPALIVE_SECONDS)


def _not_found() -> web.Response:
    return web.Response(status=404, text="404 page not found", content_type="text/plain")


async def _unmatched(request: web.Request) -> web.StreamResponse:
    """gin: a trailing slash redirects to the path without it (301 GET, 307 else); else 404 text."""
    path = request.path
    if len(path) > 1 and path.endswith("/"):
        target = path.rstrip("/") or "/"
        match = await request.app.router.resolve(request.clone(rel_url=target))
        if match.http_exception is None:
            location = target + (f"?{request.query_string}" if request.query_string else "")
            code = 301 if request.method == "GET" else 307
            return web.Response(status=code, headers={"Location": location})
    # Unknown method on a known path is also gin's 404 (HandleMethodNotAllowed is off).
    return _not_found()


def _auth_failure(request: web.Request) -> web.Response | None:
    """401/403 when tokens are configured and this request may not use its route, else None."""
    tokens = request.app[STATE].tokens
    if not tokens.enabled:
        return None
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    if is_public(request.method, route):
        return None
    header = request.headers.get("Authorization")
    ident = tokens.identify(header)
    if ident is None:
        return error_reply(401, "unknown token" if header else "missing bearer token")
    if not allowed(ident.role, request.method, route):
        return error_reply(403, f"role {ident.role} may not {request.method} {route}")
    worker_id = request.match_info.get("id")
    if worker_id is not None:
        refused = ident.refusal(worker_id)
        if refused is not None:
            return error_reply(403, refused)
    request[IDENTITY] = ident  # POST /workers checks the body's id against it
    return None


@web.middleware
async def gin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routing misses, auth, `Reply` short cuts and crashes, in one layer (it runs on every request)."""
    if request.match_info.http_exception is not None:
        return await _unmatched(request)  # unknown paths are 404 before auth, as the router decides first
    denied = _auth_failure(request)
    if denied is not None:
        return denied
    try:
        return await handler(request)
    except Reply as r:
        return r.response
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except Exception:
        # gin Recovery: a handler panic is a 500 with an empty body. We also log it (quirk 34 fixed).
        log.exception("%s %s failed", request.method, request.path)
        return web.Response(status=500)


async def ping(_request: web.Request) -> web.Response:
    return message_reply("pong")


def create_app(config: ManagerConfig, db: Database, extra_setup: Iterable[AppSetup] = ()) -> web.Application:
    """The manager application over an open database (the caller closes the database)."""
    app = web.Application(middlewares=[gin], client_max_size=MAX_BODY)  # each route reads less (http.py)
    app[STATE] = ManagerState(config, db)
    headers.install(app)
    log.addFilter(escape_filter)  # names and paths from clients are logged escaped
    app.router.add_get("/ping", ping, allow_head=False)
    for module in (jobs, workers, cmd, history, archive, logs):
        module.setup(app)

    async def start_client(app: web.Application) -> None:
        app[STATE].client = make_session(config)

    async def stop_client(app: web.Application) -> None:
        client = app[STATE].client
        if client is not None:
            await client.close()

    app.on_startup.append(start_client)
    app.on_cleanup.append(stop_client)
    for fn in extra_setup:
        fn(app)
    return app


def server_ssl(config: ManagerConfig) -> ssl.SSLContext | None:
    cert, key = config.server.ssl_cert, config.server.ssl_key
    if not cert and not key:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def start(app: web.Application, config: ManagerConfig) -> web.AppRunner:
    """Listen on server.addr:server.port (TLS when cert and key are set)."""
    limits = limits_of(config)
    runner = web.AppRunner(app, access_log=log if config.debug else None, handle_signals=False,
                           **limits.runner_kwargs())
    await runner.setup()
    site = GuardedSite(runner, config.server.addr, config.server.port, ssl_context=server_ssl(config),
                       limits=limits, name="manager")
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


async def run_manager(
    config: ManagerConfig, extra_setup: Iterable[AppSetup] = (), stop: asyncio.Event | None = None
) -> None:
    """Open the database, serve until SIGINT/SIGTERM (or `stop`), shut down cleanly."""
    db = await open_database(config.files.db_type, config.files.db_file, config.source)
    try:
        app = create_app(config, db, extra_setup)
        runner = await start(app, config)
        scheme = "https" if config.server.ssl_cert else "http"
        log.info("manager listening on %s://%s:%d", scheme, config.server.addr, config.server.port)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await db.close()
