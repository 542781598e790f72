"""The worker against what Go's manager does, and the worker's control port as Go's answers.

Go's manager cannot run here, so `GoManager` answers the worker's requests as tuna/tunasync v0.10.0
`manager/server.go` does: `registerWorker` replies `c.JSON(200, newWorker)` (no extra header, and its
WorkerStatus has no token), statuses and schedules get 200, `/workers/:id/jobs` answers `null` for a
worker without jobs. It sends commands to the worker's URL the way `handleClientCmd` does: a plain
POST of the WorkerCmd JSON, with no Authorization header.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp
from aiohttp import web

from tests.worker.jobkit import free_port, write_worker_conf
from tests.worker.test_worker import manager, post, running_worker


class GoManager:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, str]] = []
        self.registered = asyncio.Event()
        self.posted = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.registered.set()
        return web.json_response({"id": body["id"], "url": body["url"], "last_online": "2024-05-01T12:00:00Z",
                                  "last_register": "2024-05-01T12:00:00Z"})

    async def _status(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.statuses.append((body["name"], body["status"]))
        self.posted.set()
        return web.json_response(body)

    async def _ok(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"message": "successfully updated"})

    async def _jobs(self, request: web.Request) -> web.Response:
        return web.Response(text="null", content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/workers", self._register)
        app.router.add_get("/workers/{id}/jobs", self._jobs)
        app.router.add_post("/workers/{id}/jobs/{job}", self._status)
        app.router.add_post("/workers/{id}/schedules", self._ok)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


PING = b'{"cmd":"ping","mirror_id":"a","args":null,"options":null}'
MIRRORS = [{"name": "a", "provider": "command", "upstream": "x", "command": "true"}]


async def test_a_go_manager_can_command_a_worker_that_has_a_token(tmp_path):
    # Go's example worker.conf sets [manager] token; Go ignores it and its manager sends no token
    go = GoManager()
    await go.start()
    try:
        async with running_worker(tmp_path, MIRRORS, api_base=go.base, token="some_token") as (w, url):
            await asyncio.wait_for(go.registered.wait(), 10)
            assert not w.client.control_needs_token()
            assert await post(url, PING) == (200, '{"msg":"OK"}\n')
    finally:
        await go.stop()


async def test_our_manager_announces_it_forwards_the_token(tmp_path):
    async with manager(tmp_path) as base:
        async with aiohttp.ClientSession() as s, s.post(f"{base}/workers", json={"id": "w", "url": "http://127.0.0.1:1/"}) as r:
            assert r.status == 200 and r.headers["X-Tunasync-Command-Auth"] == "bearer"
            assert set(json.loads(await r.text())) >= {"id", "url", "last_online"}  # Go's JSON unchanged
        async with running_worker(tmp_path, MIRRORS, api_base=base, token="s3cret") as (w, url):
            assert w.client.control_needs_token()
            assert (await post(url, PING))[0] == 401


async def test_every_status_reaches_a_go_manager(tmp_path):
    go = GoManager()
    await go.start()
    try:
        async with running_worker(tmp_path, MIRRORS, api_base=go.base) as (w, _):
            async with asyncio.timeout(20):
                while True:
                    go.posted.clear()  # cleared before the look: no await between them
                    if ("a", "success") in go.statuses:
                        break
                    await go.posted.wait()
        seq = [s for n, s in go.statuses if n == "a"]
        assert seq[:3] == ["pre-syncing", "syncing", "success"]
    finally:
        await go.stop()


async def test_unknown_paths_and_methods_are_gins_404(tmp_path):
    # Go: worker/worker.go makeHTTPServer uses gin.New() with one POST "/" route; gin answers anything
    # else with "404 page not found" (text/plain), HandleMethodNotAllowed being off
    go = GoManager()
    await go.start()
    try:
        async with running_worker(tmp_path, MIRRORS, api_base=go.base) as (_, url):
            async with aiohttp.ClientSession() as s:
                for method, path in (("GET", ""), ("PUT", ""), ("GET", "nope"), ("DELETE", "logs/a")):
                    async with s.request(method, url + path) as r:
                        assert (r.status, await r.text()) == (404, "404 page not found"), (method, path)
                        assert r.content_type == "text/plain"
    finally:
        await go.stop()


async def test_systemd_exec_start_line_and_sigterm_while_registering(tmp_path):
    # systemd/tunasync-worker.service style: `tunasync worker -config FILE -with-systemd`; the manager is
    # unreachable, so the worker is still waiting to register when SIGTERM comes: it halts and exits 0
    conf = write_worker_conf(tmp_path / "worker.conf", port=free_port(), api_base=f"http://127.0.0.1:{free_port()}",
                             mirrors=MIRRORS)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tunasync.cli.main", "worker", "-config", conf, "-with-systemd", "-v",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(30):
        while not any("cannot register" in line for line in lines):
            line = (await proc.stdout.readline()).decode()
            assert line, "".join(lines)
            lines.append(line)
    assert lines[0].startswith("[")  and not lines[0][1].isdigit()  # -with-systemd: no timestamp
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, "".join(lines) + out.decode()


def test_check_says_what_the_token_does(tmp_path):
    from tunasync.worker.config import check_worker_config

    conf = write_worker_conf(tmp_path / "worker.conf", mirrors=MIRRORS, token="some_token")
    [p] = [p for p in check_worker_config(conf) if p.key == "manager.token" and "Go manager" in p.reason]
    assert p.level == "warning" and "announces" in p.reason
