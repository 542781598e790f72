"""What the worker sends, byte for byte: registration, status and schedules messages (docs/compat.md §4.7, §4.8),
against a small loopback app that records every request (it stands for the manager)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.worker.jobkit import free_port, write_worker_conf
from tests.worker.test_job import wait_until
from tunasync.models import timefmt
from tunasync.worker.config import load_worker_config
from tunasync.worker.worker import Worker


class Recorder:
    def __init__(self, jobs: object = None):
        self.requests: list[tuple[str, str, dict, str]] = []
        self.jobs = jobs

    def app(self) -> web.Application:
        async def record(request: web.Request) -> web.Response:
            body = await request.text()
            self.requests.append((request.method, request.path, dict(request.headers), body))
            if request.method == "GET":
                return web.json_response(self.jobs)
            return web.Response(body=body, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        return app

    def posts(self, suffix: str) -> list[dict]:
        return [json.loads(b) for m, p, _, b in self.requests if m == "POST" and p.endswith(suffix)]


@contextlib.asynccontextmanager
async def worker_with(tmp_path, recorder, mirrors, **kw):
    server = TestServer(recorder.app(), host="127.0.0.1", port=free_port())
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    conf = write_worker_conf(tmp_path / "w.conf", port=free_port(), api_base=base, tmp=str(tmp_path),
                             mirrors=mirrors, **kw)
    w = Worker(load_worker_config(conf), tick=kw.pop("tick", 0.05) if "tick" in kw else 0.05,
               restart_delay=0.01)
    await w.start()
    try:
        yield w
    finally:
        await asyncio.wait_for(w.halt(), 30)
        await server.close()


async def test_no_mirrors_registration_and_null_schedules(tmp_path):
    rec = Recorder()
    async with worker_with(tmp_path, rec, [], token="tok") as w:
        await wait_until(lambda: rec.posts("/schedules"))
        reg = rec.posts("/workers")
        assert len(reg) == 1 and reg[0]["id"] == "dut"
        assert reg[0]["url"] == f"http://127.0.0.1:{w.cfg.server.listen_port}/"
        assert reg[0]["token"] == "tok"  # the manager uses it for commands it forwards to us
        assert rec.posts("/workers/dut/schedules")[0] == {"schedules": None}
        method, path, headers, body = rec.requests[0]
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["Authorization"] == "Bearer tok"
        assert body.endswith("}\n") and ", " not in body  # Go's compact JSON plus a newline


async def test_one_mirror_schedule_then_statuses(tmp_path):
    rec = Recorder(jobs=None)  # the manager knows nothing yet: `null`
    mirrors = [{"name": "job-ls", "provider": "command", "upstream": "up/", "command": "ls"}]
    before = timefmt.now()
    async with worker_with(tmp_path, rec, mirrors, interval=1):
        await wait_until(lambda: len(rec.posts("/jobs/job-ls")) >= 3)
        first = rec.posts("/schedules")[0]["schedules"]
        assert [s["name"] for s in first] == ["job-ls"]
        when = timefmt.parse_rfc3339(first[0]["next_schedule"])
        assert before - timedelta(seconds=2) <= when <= before + timedelta(minutes=1)
        sts = rec.posts("/jobs/job-ls")
        assert [s["status"] for s in sts[:3]] == ["pre-syncing", "syncing", "success"]
        assert list(sts[2]) == ["name", "worker", "is_master", "status", "last_update", "last_started",
                                "last_ended", "next_schedule", "upstream", "size", "error_msg"]
        assert sts[2]["worker"] == "dut" and sts[2]["is_master"] is True and sts[2]["upstream"] == "up/"
        assert sts[2]["size"] == "unknown" and sts[2]["next_schedule"] == "0001-01-01T00:00:00Z"
        # after the success the job is queued again at now + 1 minute
        await wait_until(lambda: any(s["schedules"] and timefmt.parse_rfc3339(s["schedules"][0]["next_schedule"])
                                     > before + timedelta(seconds=50) for s in rec.posts("/schedules")))


async def test_initial_scheduling_follows_the_manager_records(tmp_path):
    recent = timefmt.format_rfc3339(timefmt.now() - timedelta(minutes=1))
    records = [
        {"name": "off", "status": "disabled"},
        {"name": "held", "status": "paused"},
        {"name": "fresh", "status": "success", "last_update": recent},
    ]
    mirrors = [{"name": n, "provider": "command", "upstream": "x", "command": "true"}
               for n in ("off", "held", "fresh", "new")]
    rec = Recorder(jobs=records)
    async with worker_with(tmp_path, rec, mirrors, interval=60) as w:
        await wait_until(lambda: rec.posts("/jobs/new"))
        names = [s["name"] for s in rec.posts("/schedules")[0]["schedules"]]
        assert sorted(names) == ["fresh", "new"]  # disabled and paused are not queued
        assert not w.jobs["off"].alive and w.jobs["held"].alive
        assert w.jobs["held"].state.value == "paused"
        fresh = w.scheduler.queue.get("fresh")
        assert fresh is not None and fresh > timefmt.now() + timedelta(minutes=58)
