"""`GET /workers/:id/jobs/:job/log` proxies the worker's `GET /logs/:job` (a small aiohttp app here)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ..mgrkit import Manager, register


class LogWorker:
    """Stands for a worker control server serving `/logs/:job`, with a follow mode we drive."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.more = asyncio.Queue()
        app = web.Application()
        app.router.add_get("/logs/{job}", self.logs)
        self.server = TestServer(app, host="127.0.0.1")

    async def logs(self, request: web.Request) -> web.StreamResponse:
        job = request.match_info["job"]
        self.requests.append((job, dict(request.query), dict(request.headers)))
        if job == "missing":
            return web.Response(status=404, text="no log")
        if request.query.get("follow") != "1":
            return web.Response(text=f"log of {job}\nline 2\n")
        resp = web.StreamResponse()
        resp.content_type = "text/plain"
        await resp.prepare(request)
        await resp.write(b"first\n")
        while (chunk := await self.more.get()) is not None:
            await resp.write(chunk)
        return resp


@pytest.fixture
async def logworker():
    w = LogWorker()
    await w.server.start_server()
    yield w
    await w.server.close()


async def test_log_proxied(manager: Manager, logworker: LogWorker) -> None:
    await register(manager, "w1", url=str(logworker.server.make_url("/")), token="tok")
    code, body, resp = await manager.call("GET", "/workers/w1/jobs/debian/log")
    assert (code, body) == (200, "log of debian\nline 2\n")
    assert resp.content_type == "text/plain"
    assert logworker.requests[0][2]["Authorization"] == "Bearer tok"
    code, body, _ = await manager.call("GET", "/workers/w1/jobs/missing/log")
    assert (code, body) == (404, "no log")


async def test_follow_streams_chunk_by_chunk(manager: Manager, logworker: LogWorker) -> None:
    await register(manager, "w1", url=str(logworker.server.make_url("/")))
    async with manager.session.get(manager.url("/workers/w1/jobs/debian/log?follow=1")) as resp:
        assert resp.status == 200
        assert await asyncio.wait_for(resp.content.readline(), 10) == b"first\n"
        await logworker.more.put(b"second\n")  # only sent after we saw the first line
        assert await asyncio.wait_for(resp.content.readline(), 10) == b"second\n"
        await logworker.more.put(None)
        assert await asyncio.wait_for(resp.content.read(), 10) == b""
    assert logworker.requests[0][1] == {"follow": "1"}


async def test_unreachable_worker_is_502(manager: Manager) -> None:
    await register(manager, "w1", url="http://127.0.0.1:9/")
    code, body, _ = await manager.call("GET", "/workers/w1/jobs/debian/log")
    assert code == 502
    assert body["error"].startswith("worker w1(http://127.0.0.1:9/) unreachable: ")

