"""`POST /cmd` forwarding to a real loopback 'worker' (a small aiohttp app recording what it got)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ..mgrkit import Manager, post_status, register


class FakeWorker:
    """Stands for a worker's control server: records every POST / and answers as told."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.got: list[tuple[dict, dict]] = []
        self.status, self.delay = status, delay
        app = web.Application()
        app.router.add_post("/", self.handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        assert raw.endswith(b"\n")
        self.got.append((json.loads(raw), dict(request.headers)))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"msg": "OK"}, status=self.status)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))


@pytest.fixture
async def worker():
    w = FakeWorker()
    await w.server.start_server()
    yield w
    await w.server.close()


async def test_cmd_delivers_worker_cmd(manager: Manager, worker: FakeWorker) -> None:
    await register(manager, "w1", url=worker.url, token="worker-token")
    cmd = {"cmd": "start", "mirror_id": "debian", "worker_id": "w1", "args": None, "options": {"force": True}}
    code, body, _ = await manager.call("POST", "/cmd", cmd)
    assert (code, body) == (200, {"message": "successfully send command to worker w1"})
    payload, headers = worker.got[0]
    assert payload == {"cmd": "start", "mirror_id": "debian", "args": None, "options": {"force": True}}
    assert headers["Authorization"] == "Bearer worker-token"
    assert headers["Content-Type"] == "application/json; charset=utf-8"


async def test_no_auth_header_without_worker_token(manager: Manager, worker: FakeWorker) -> None:
    await register(manager, "w1", url=worker.url)
    await manager.call("POST", "/cmd", {"cmd": "ping", "mirror_id": "debian", "worker_id": "w1"})
    assert "Authorization" not in worker.got[0][1]


async def test_unknown_verb_is_start_and_worker_errors_ignored(manager: Manager, worker: FakeWorker) -> None:
    worker.status = 404
    await register(manager, "w1", url=worker.url)
    code, body, _ = await manager.call("POST", "/cmd", {"cmd": "explode", "mirror_id": "x", "worker_id": "w1"})
    assert code == 200  # quirk 4 kept: the worker's 404 is not reported
    assert worker.got[0][0]["cmd"] == "start"  # quirk 7 kept
    code, _, _ = await manager.call("POST", "/cmd", {"cmd": "reload", "mirror_id": "", "worker_id": "w1"})
    assert code == 200 and worker.got[1][0] == {"cmd": "reload", "mirror_id": "", "args": None, "options": None}


async def test_stop_and_disable_write_status_first(manager: Manager, worker: FakeWorker) -> None:
    await register(manager, "w1", url=worker.url)
    await post_status(manager, "w1", "debian", "success")
    await manager.call("POST", "/cmd", {"cmd": "stop", "mirror_id": "debian", "worker_id": "w1"})
    _, jobs, _ = await manager.call("GET", "/workers/w1/jobs")
    assert jobs[0]["status"] == "paused"
    await manager.call("POST", "/cmd", {"cmd": "disable", "mirror_id": "debian", "worker_id": "w1"})
    assert (await manager.call("GET", "/workers/w1/jobs"))[1][0]["status"] == "disabled"
    # quirk 5 kept: stop of an unknown mirror stores a nameless record, which flush removes
    await manager.call("POST", "/cmd", {"cmd": "stop", "mirror_id": "ghost", "worker_id": "w1"})
    assert sorted(j["name"] for j in (await manager.call("GET", "/jobs"))[1]) == ["", "debian"]
    await manager.call("DELETE", "/jobs/disabled")
    assert (await manager.call("GET", "/jobs"))[1] == []


async def test_cmd_errors(manager: Manager) -> None:
    code, body, resp = await manager.call("POST", "/cmd", {"cmd": "start", "mirror_id": "x", "worker_id": ""})
    assert (code, body) == (500, None)  # quirk 6 kept: empty body
    code, body, _ = await manager.call("POST", "/cmd", {"cmd": "start", "mirror_id": "x", "worker_id": "nobody"})
    assert (code, body) == (400, {"error": "worker nobody is not registered yet"})


async def test_unreachable_worker_is_500_but_stop_is_kept(manager: Manager) -> None:
    await register(manager, "w1", url="http://127.0.0.1:9/")
    await post_status(manager, "w1", "debian", "success")
    code, body, _ = await manager.call("POST", "/cmd", {"cmd": "stop", "mirror_id": "debian", "worker_id": "w1"})
    assert code == 500
    assert body["error"].startswith("post command to worker w1(http://127.0.0.1:9/) fail: ")
    assert (await manager.call("GET", "/workers/w1/jobs"))[1][0]["status"] == "paused"
