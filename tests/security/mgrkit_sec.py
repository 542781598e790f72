"""What the manager security tests share: a real manager (config file, every operator route) on
loopback, raw HTTP helpers, and small aiohttp servers that play workers or an internal service."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.ops.manager_harness import Manager, running_manager
from tests.ops.worker_harness import free_port

__all__ = ["Manager", "Service", "call", "free_port", "manager", "service", "token_conf"]

ZERO = "0001-01-01T00:00:00Z"


def token_conf(*entries: tuple[str, str, str, list[str] | None]) -> str:
    """`[[auth.tokens]]` TOML for (name, role, token, workers-or-None) entries."""
    out = []
    for name, role, token, workers in entries:
        out.append(f'[[auth.tokens]]\nname = "{name}"\nrole = "{role}"\ntoken = "{token}"\n')
        if workers is not None:
            out.append("workers = [" + ", ".join(json.dumps(w) for w in workers) + "]\n")
    return "".join(out)


@contextlib.asynccontextmanager
async def manager(tmp_path: Path, extra: str = "") -> AsyncIterator[Manager]:
    """The real manager app (as `tunasync manager` builds it) over a fresh sqlite file."""
    async with running_manager(tmp_path, free_port(), extra) as m:
        yield m


async def call(session: aiohttp.ClientSession, method: str, url: str, body: Any = None, *,
               raw: bytes | None = None, token: str | None = None) -> tuple[int, Any, aiohttp.ClientResponse]:
    """(status, JSON or text, response) of one request; `body` is sent as compact JSON."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    async with session.request(method, url, data=data, headers=headers, allow_redirects=False) as r:
        text = await r.read()
        try:
            decoded: Any = json.loads(text) if text else None
        except ValueError:
            decoded = text.decode("utf-8", "replace")
        return r.status, decoded, r


def registration(worker_id: str, url: str, token: str = "") -> dict[str, str]:
    return {"id": worker_id, "url": url, "token": token, "last_online": ZERO, "last_register": ZERO}


def status_msg(name: str, worker: str, status: str = "success") -> dict[str, Any]:
    return {"name": name, "worker": worker, "is_master": True, "status": status, "last_update": ZERO,
            "last_started": ZERO, "last_ended": ZERO, "next_schedule": ZERO, "upstream": "rsync://u.example/x/",
            "size": "1G", "error_msg": ""}


@dataclass
class Service:
    """A loopback HTTP server that records every request it gets (method, path with query)."""

    url: str
    hits: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def service(routes: dict[str, Handler] | None = None) -> AsyncIterator[Service]:
    """Serve `routes` (path → handler; anything else is 404) on a free loopback port."""
    routes = routes or {}
    port = free_port()
    svc = Service(f"http://127.0.0.1:{port}")

    async def any_path(request: web.Request) -> web.StreamResponse:
        svc.hits.append((request.method, request.raw_path))
        svc.bodies.append(await request.read())
        handler = routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="nothing here")
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield svc
    finally:
        await runner.cleanup()
