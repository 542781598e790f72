"""Helpers for manager tests: a manager on a loopback port and short request helpers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from tests.ports import free_port
from tunasync.manager.config import ManagerConfig
from tunasync.manager.db import Database
from tunasync.manager.server import create_app, start
from tunasync.manager.state import STATE, ManagerState


class Manager:
    """A running manager app on loopback and a client session talking to it."""

    def __init__(self, app: web.Application, runner: web.AppRunner, base: str, session: aiohttp.ClientSession):
        self.app, self.runner, self.base, self.session = app, runner, base, session

    @property
    def state(self) -> ManagerState:
        return self.app[STATE]

    def url(self, path: str) -> str:
        return self.base + path

    async def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                   token: str | None = None, **kw: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        """(status, decoded JSON or text, response)."""
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        async with self.session.request(method, self.url(path), data=data, headers=headers,
                                        allow_redirects=False, **kw) as resp:
            text = await resp.text()
            try:
                    decoded = json.loads(text) if text else None
            except ValueError:
                decoded = text
            return resp.status, decoded, resp


async def start_manager(config: ManagerConfig, database: Database) -> Manager:
    config.server.addr = "127.0.0.1"
    config.server.port = free_port()
    app = create_app(config, database)
    runner = await start(app, config)
    session = aiohttp.ClientSession()
    return Manager(app, runner, f"http://127.0.0.1:{config.server.port}", session)


async def stop_manager(m: Manager) -> None:
    await m.session.close()
    await m.runner.cleanup()


async def register(m: Manager, worker_id: str, url: str = "http://127.0.0.1:9/", token: str = "", **kw: Any) -> Any:
    status, body, _ = await m.call("POST", "/workers", {"id": worker_id, "url": url, "token": token}, **kw)
    assert status == 200, body
    return body


async def post_status(m: Manager, worker_id: str, name: str, status: str, **fields: Any) -> Any:
    body = {"name": name, "worker": worker_id, "status": status, "size": "unknown", **fields}
    code, reply, _ = await m.call("POST", f"/workers/{worker_id}/jobs/{name}", body)
    assert code == 200, reply
    return reply
