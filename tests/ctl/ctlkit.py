"""Helpers for tunasynctl tests: run the real `tunasynctl` executable, stand-in worker, manager on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.ports import free_port  # noqa: F401 (re-exported)
from tunasync.manager.config import ManagerConfig
from tunasync.manager.db import Database
from tunasync.manager.server import create_app, start

from . import inproc

_SCRIPT = Path(sys.executable).parent / "tunasynctl"
CTL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tunasync.cli.ctl"]




@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def ctl_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: HOME without a ctl.conf unless the test writes one, no inherited token."""
    env = {k: v for k, v in os.environ.items() if k not in ("TUNASYNC_TOKEN", "HOME")}
    env["HOME"] = str(home)
    env.setdefault("TZ", "UTC")
    env.update(extra)
    return env


CTL_TIMEOUT = 60.0  # generous: busy CI machines start Python slowly


async def ctl(env: dict[str, str], *args: str, real: bool = False) -> Result:
    """Run tunasynctl: in-process in a thread, or (`real=True`) the installed executable as a subprocess.

    Either way the test's event loop keeps serving the in-process manager and stand-in worker meanwhile.
    """
    if not real:
        return Result(*await asyncio.to_thread(inproc.run, env, args))
    proc = await asyncio.create_subprocess_exec(*CTL, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CTL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


@dataclass
class StandInWorker:
    """A loopback HTTP server standing for a worker's control server: records commands, serves /logs/:job."""

    commands: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    logs: dict[str, list[bytes]] = field(default_factory=dict)
    follow_requests: list[bool] = field(default_factory=list)
    endless: set[str] = field(default_factory=set)  # followed logs that never end (until the client leaves)
    url: str = ""
    runner: web.AppRunner | None = None
    received: asyncio.Event = field(default_factory=asyncio.Event)

    async def _command(self, request: web.Request) -> web.Response:
        self.commands.append(json.loads(await request.read()))
        self.headers.append(dict(request.headers))
        self.received.set()
        return web.json_response({"msg": "OK"})

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        job = request.match_info["job"]
        follow = request.query.get("follow") == "1"
        self.follow_requests.append(follow)
        if job not in self.logs:
            return web.json_response({"error": f"no log for {job}"}, status=404)
        resp = web.StreamResponse()
        resp.content_type = "text/plain"
        await resp.prepare(request)
        chunks = self.logs[job]
        for chunk in chunks if follow else [b"".join(chunks)]:
            await resp.write(chunk)
            if follow:
                await asyncio.sleep(0.05)  # a live log arrives in pieces
        while follow and job in self.endless and request.transport is not None \
                and not request.transport.is_closing():  # noqa: ASYNC110 - polls the socket, no event to wait on
            await asyncio.sleep(0.1)
        await resp.write_eof()
        return resp

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/", self._command)
        app.router.add_get("/logs/{job}", self._logs)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Stack:
    """A real manager (sqlite) on loopback plus a session to drive it as workers would."""

    def __init__(self, config: ManagerConfig, db: Database):
        self.config = config
        self.db = db
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.token = ""  # the token used by the helpers below (a worker or admin token)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.config.server.port}"

    async def start(self, port: int) -> None:
        self.config.server.addr = "127.0.0.1"
        self.config.server.port = port
        self.runner = await start(create_app(self.config, self.db), self.config)
        self.session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.session is not None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = json.dumps(body).encode() if body is not None else None
        async with self.session.request(method, self.base + path, data=data, headers=headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def register(self, worker: str, url: str = "http://127.0.0.1:9/", token: str = "") -> None:
        code, body = await self.call("POST", "/workers", {"id": worker, "url": url, "token": token})
        assert code == 200, body

    async def post_status(self, worker: str, name: str, status: str, **fields: Any) -> None:
        body = {"name": name, "worker": worker, "is_master": True, "status": status, "size": "unknown",
                "upstream": f"rsync://example.org/{name}/", **fields}
        code, reply = await self.call("POST", f"/workers/{worker}/jobs/{name}", body)
        assert code == 200, reply
