"""The upgrade path from Go tunasync (docs/operators.md): migrate, start ours, mixed Go and Python workers."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from .bolt_fixture import BoltWriter, go_database
from .manager_harness import ZERO, go_status_msg, post_raw, running_manager
from .worker_harness import free_port, wait_status, worker_conf, worker_process

BIN = Path(sys.executable).parent / "tunasync"
WEB_KEYS = ["name", "is_master", "status", "last_update", "last_update_ts", "last_started", "last_started_ts",
            "last_ended", "last_ended_ts", "next_schedule", "next_schedule_ts", "upstream", "size"]


async def run(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(str(BIN), *argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def wait_ping(session: aiohttp.ClientSession, url: str, proc) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            async with session.get(url + "/ping") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert proc.returncode is None, "manager exited"
        assert time.monotonic() < deadline, "manager did not start"
        await asyncio.sleep(0.1)


async def test_stop_go_migrate_start_ours(tmp_path):
    db_file = tmp_path / "tunasync.db"
    db_file.write_bytes(BoltWriter().build(go_database({"w1": ["debian", "ubuntu"], "w2": ["pypi"]})))
    port = free_port()
    conf = tmp_path / "manager.conf"
    conf.write_text(f'[server]\naddr = "127.0.0.1"\nport = {port}\n'
                    f'[files]\ndb_type = "bolt"\ndb_file = "{db_file}"\nstatus_file = "{tmp_path}/tunasync.json"\n')
    # Our manager refuses to start over a Go database instead of showing an empty site...
    code, out = await run("manager", "-c", str(conf))
    assert code == 1 and "manager migrate --from-bolt" in out
    # ...migrate imports it (the Go file is kept next to ours)...
    code, out = await run("manager", "migrate", "--from-bolt", str(db_file), "-c", str(conf))
    assert code == 0, out
    assert "Imported 2 workers and 3 mirror statuses" in out
    assert (tmp_path / "tunasync.db.go-bolt").exists()
    # ...and the manager starts on the same config with the Go data.
    proc = await asyncio.create_subprocess_exec(str(BIN), "manager", "-c", str(conf), "--with-systemd",
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as s:
            base = f"http://127.0.0.1:{port}"
            await wait_ping(s, base, proc)
            async with s.get(base + "/jobs") as r:
                jobs = await r.json()
            assert sorted(j["name"] for j in jobs) == ["debian", "pypi", "ubuntu"]
            deb = next(j for j in jobs if j["name"] == "debian")
            assert list(deb) == WEB_KEYS
            # Times keep the offset the Go manager wrote them with.
            assert deb["last_update"] == "2024-05-01 12:34:56 +0800" and deb["last_update_ts"] == 1714538096
            assert deb["next_schedule_ts"] == -62135596800
            async with s.get(base + "/workers/w1/jobs") as r:
                assert sorted(x["name"] for x in await r.json()) == ["debian", "ubuntu"]
            async with s.get(base + "/") as r:
                assert r.status == 200 and "<table id=\"mirrors\">" in await r.text()
            async with s.get(base + "/metrics") as r:
                assert 'tunasync_mirror_state{mirror="pypi",state="success",worker="w2"} 1.0' in await r.text()
            deadline = time.monotonic() + 30
            while not (tmp_path / "tunasync.json").exists():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            assert len(json.loads((tmp_path / "tunasync.json").read_text())) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


class GoWorkerStandIn:
    """The control endpoint of a Go worker: records every WorkerCmd the manager posts (docs/compat.md §4.11)."""

    def __init__(self) -> None:
        self.received: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        return web.json_response({"msg": "OK"})


async def test_go_and_python_workers_on_one_manager(tmp_path, port):
    go = GoWorkerStandIn()
    go_app = web.Application()
    go_app.router.add_post("/", go.handle)
    go_runner = web.AppRunner(go_app)
    await go_runner.setup()
    go_port = free_port()
    await web.TCPSite(go_runner, "127.0.0.1", go_port).start()
    try:
        async with running_manager(tmp_path, port) as m, aiohttp.ClientSession() as s:
            # The Go worker, byte for byte as docs/compat.md §1/§4.8: register, initial fetch, statuses, schedules.
            code, reg = await post_raw(s, f"{m.url}/workers", {
                "id": "goworker", "url": f"http://127.0.0.1:{go_port}/", "token": "",
                "last_online": ZERO, "last_register": ZERO})
            assert code == 200 and reg["id"] == "goworker" and reg["last_register"] != ZERO
            async with s.get(f"{m.url}/workers/goworker/jobs") as r:
                assert await r.text() == "null\n" or (await r.json()) is None
            for st in ("pre-syncing", "syncing", "success"):
                code, _ = await post_raw(s, f"{m.url}/workers/goworker/jobs/gomirror",
                                         go_status_msg("gomirror", "goworker", st, size="1.33T"))
                assert code == 200
            code, _ = await post_raw(s, f"{m.url}/workers/goworker/schedules", {"schedules": [
                {"name": "gomirror", "next_schedule": "2031-05-01T14:34:56.123456789+08:00"}]})
            assert code == 200

            # The Python worker, a real process running a real job.
            wport = free_port()
            conf = worker_conf(tmp_path, "pyworker", m.url, wport, "echo synced")
            log = tmp_path / "pyworker.log"
            async with worker_process(conf, log) as proc:
                await wait_status(s, m.url, "pymirror", "success", proc=proc, log=log)
                async with s.get(m.url + "/jobs") as r:
                    jobs = {j["name"]: j for j in await r.json()}
                assert set(jobs) == {"gomirror", "pymirror"}
                assert all(list(j) == WEB_KEYS for j in jobs.values())
                assert jobs["gomirror"]["next_schedule"] == "2031-05-01 14:34:56 +0800"
                assert jobs["gomirror"]["next_schedule_ts"] == 1935383696
                assert jobs["gomirror"]["size"] == "1.33T"
                async with s.get(m.url + "/workers") as r:
                    workers = await r.json()
                assert sorted(w["id"] for w in workers) == ["goworker", "pyworker"]
                assert {w["token"] for w in workers} == {"REDACTED"}
                # Commands reach both kinds of worker through the one manager.
                code, body = await post_raw(s, f"{m.url}/cmd", {"cmd": "start", "mirror_id": "gomirror",
                                                               "worker_id": "goworker", "args": None,
                                                               "options": {"force": True}})
                assert code == 200 and body == {"message": "successfully send command to worker goworker"}
                assert go.received == [{"cmd": "start", "mirror_id": "gomirror", "args": None, "options": {"force": True}}]
                code, body = await post_raw(s, f"{m.url}/cmd", {"cmd": "ping", "mirror_id": "pymirror",
                                                               "worker_id": "pyworker"})
                assert code == 200
                # Python worker halts cleanly on SIGTERM (Go: exit 0 after halt).
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await go_runner.cleanup()
