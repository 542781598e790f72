"""The worker against the REAL manager (in-process, SQLite, loopback HTTP) with real subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex

import aiohttp
import pytest

from tests.worker.jobkit import free_port, start_manager, write_worker_conf
from tests.worker.test_job import wait_until
from tunasync.worker.config import load_worker_config
from tunasync.worker.worker import Worker, default_build


@contextlib.asynccontextmanager
async def running_worker(tmp_path, mirrors, *, api_base, build=default_build, **kw):
    port = free_port()
    conf = write_worker_conf(tmp_path / "worker.conf", port=port, api_base=api_base, tmp=str(tmp_path),
                             mirrors=mirrors, **kw)
    w = Worker(load_worker_config(conf), build=build, tick=0.05, restart_delay=0.01, register_wait=10)
    w.client.backoff_start = 0.05
    w.client.backoff_max = 0.5
    await w.start()
    try:
        yield w, f"http://127.0.0.1:{port}/"
    finally:
        await asyncio.wait_for(w.halt(), 30)


@contextlib.asynccontextmanager
async def manager(tmp_path, port=None):
    runner, db, base = await start_manager(tmp_path, port or free_port())
    try:
        yield base
    finally:
        await runner.cleanup()
        await db.close()


async def get_json(url, **kw):
    async with aiohttp.ClientSession() as s, s.get(url, **kw) as r:
        return r.status, await r.json(content_type=None)


async def post(url, body, **kw):
    async with aiohttp.ClientSession() as s, s.post(url, data=body, **kw) as r:
        return r.status, await r.text()


async def statuses(base, worker="dut"):
    code, jobs = await get_json(f"{base}/workers/{worker}/jobs")
    return {j["name"]: j for j in jobs or []} if code == 200 else {}  # 400 until the worker registered


async def wait_status(base, name, status, within=30, worker="dut"):
    async with asyncio.timeout(within):
        while True:
            rec = (await statuses(base, worker)).get(name)
            if rec and rec["status"] == status:
                return rec
            await asyncio.sleep(0.05)


async def wait_history(base, name, runs, within=20, worker="dut"):
    """Until the manager's history of the mirror holds at least `runs` runs."""
    async with asyncio.timeout(within):
        while True:
            _, hist = await get_json(f"{base}/workers/{worker}/jobs/{name}/history")
            if hist and len(hist) >= runs:
                return hist
            await asyncio.sleep(0.05)


async def test_registers_runs_and_reports(tmp_path):
    mirrors = [
        {"name": "job-ls", "provider": "command", "upstream": "x", "command": "ls"},
        {"name": "job-missing", "provider": "command", "upstream": "x", "command": "no-such-binary-xyz"},
        {"name": "job-size", "provider": "command", "upstream": "u", "command": "true"},
    ]
    async with manager(tmp_path) as base, running_worker(tmp_path, mirrors, api_base=base) as (w, _):
        _, workers = await get_json(f"{base}/workers")
        assert [(w["id"], w["url"]) for w in workers] == [("dut", f"http://127.0.0.1:{_port(tmp_path)}/")]
        ok = await wait_status(base, "job-ls", "success")
        assert ok["error_msg"] == "" and ok["size"] == "unknown" and ok["upstream"] == "x"
        failed = await wait_status(base, "job-missing", "failed")
        assert failed["error_msg"]  # the reason reaches the manager
        await wait_status(base, "job-size", "success")
        # finished jobs are re-queued at now + interval and the manager knows when
        async with asyncio.timeout(20):
            while any(r["next_schedule"].startswith("0001") for r in (await statuses(base)).values()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)


def sh(script: str) -> str:
    """A `command` mirror line running `script` in a shell (commands are split, not run by a shell)."""
    return "sh -c " + shlex.quote(script)


def _port(tmp_path) -> int:
    for line in (tmp_path / "worker.conf").read_text().splitlines():
        if line.startswith("listen_port"):
            return int(line.split("=")[1])
    raise AssertionError("no port")


async def test_control_server_answers_and_commands(tmp_path):
    block = "echo syncing; while [ ! -e release ]; do sleep 0.02; done"
    mirrors = [{"name": "slow", "provider": "command", "upstream": "x", "command": sh(block)}]
    async with manager(tmp_path) as base, running_worker(tmp_path, mirrors, api_base=base) as (w, url):
        job = w.jobs["slow"]
        await wait_status(base, "slow", "syncing")
        assert await post(url, b"{bad") == (400, '{"msg":"Invalid request"}\n')
        assert await post(url, b'{"cmd":"stop","mirror_id":""}') == (406, '{"msg":"Invalid Command"}\n')
        assert await post(url, b'{"cmd":"stop","mirror_id":"foo"}') == (404, '{"msg":"Mirror ``foo\'\' not found"}\n')
        assert (await post(url + "other", b"{}"))[0] == 404
        # stop through the manager: paused is kept (the killed failure is filtered out)
        body = b'{"cmd":"stop","mirror_id":"slow","worker_id":"dut"}'
        assert (await post(f"{base}/cmd", body))[0] == 200
        await wait_until(lambda: not job.running)
        assert (await statuses(base))["slow"]["status"] == "paused"
        # ping answers and leaves the job alone (quirk 15 fixed)
        assert await post(url, b'{"cmd":"ping","mirror_id":"slow"}') == (200, '{"msg":"OK"}\n')
        (tmp_path / "data" / "slow" / "release").touch()
        assert await post(url, b'{"cmd":"start","mirror_id":"slow"}') == (200, '{"msg":"OK"}\n')
        await wait_status(base, "slow", "success")
        # disable answers after the task has exited
        assert await post(url, b'{"cmd":"disable","mirror_id":"slow"}') == (200, '{"msg":"OK"}\n')
        assert not job.alive and "slow" not in w.scheduler.queue
        # start on a disabled job starts a new task
        assert await post(url, b'{"cmd":"start","mirror_id":"slow","options":{"force":true}}') == (200, '{"msg":"OK"}\n')
        await wait_until(lambda: job.runs == 3)
        await wait_until(lambda: not job.running)


async def test_control_token(tmp_path):
    async with manager(tmp_path) as base, running_worker(
            tmp_path, [{"name": "a", "provider": "command", "upstream": "x", "command": "true"}],
            api_base=base, token="s3cret") as (w, url):
        assert (await post(url, b'{"cmd":"ping","mirror_id":"a"}'))[0] == 401
        bad = {"Authorization": "Bearer nope"}
        assert (await post(url, b'{"cmd":"ping","mirror_id":"a"}', headers=bad))[0] == 403
        good = {"Authorization": "Bearer s3cret"}
        assert await post(url, b'{"cmd":"ping","mirror_id":"a"}', headers=good) == (200, '{"msg":"OK"}\n')


async def test_halt_kills_running_jobs_and_their_grandchildren(tmp_path):
    script = "sleep 300 & echo $! > grandchild; wait"
    mirrors = [{"name": "hang", "provider": "command", "upstream": "x", "command": sh(script)}]
    async with manager(tmp_path) as base:
        async with running_worker(tmp_path, mirrors, api_base=base) as (w, _):
            pidfile = tmp_path / "data" / "hang" / "grandchild"
            await wait_until(lambda: pidfile.exists() and pidfile.read_text().strip())
            pid = int(pidfile.read_text())
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await asyncio.wait_for(w.halt(), 20)
            assert loop.time() - t0 < 10
        rec = (await statuses(base))["hang"]
        assert rec["status"] == "failed" and rec["error_msg"] == "killed by manager"
        with pytest.raises(ProcessLookupError):
            for _ in range(200):
                os.kill(pid, 0)
                if open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z":  # noqa: ASYNC230
                    raise ProcessLookupError
                await asyncio.sleep(0.05)


async def test_timeout_kills_a_hanging_job(tmp_path):
    mirrors = [{"name": "hang", "provider": "command", "upstream": "x", "command": "sleep 300",
                "timeout": 1, "retry": 1}]
    async with manager(tmp_path) as base, running_worker(tmp_path, mirrors, api_base=base):
        rec = await wait_status(base, "hang", "failed")
        assert rec["error_msg"] == "hang timeout after 1s"


async def test_worker_started_before_the_manager_and_manager_restart(tmp_path):
    mport = free_port()
    base = f"http://127.0.0.1:{mport}"
    mirrors = [{"name": "a", "provider": "command", "upstream": "x", "command": "true"}]
    port = free_port()
    conf = write_worker_conf(tmp_path / "worker.conf", port=port, api_base=base, tmp=str(tmp_path), mirrors=mirrors)
    w = Worker(load_worker_config(conf), tick=0.05, restart_delay=0.01, register_wait=0.2)
    w.client.backoff_start, w.client.backoff_max = 0.05, 0.3
    await w.start()  # no manager yet: start-up goes on, registration keeps trying
    try:
        await wait_until(lambda: w.jobs["a"].runs >= 1)
        async with manager(tmp_path, mport):
            # registered late; the status that could not be delivered arrives afterwards
            await wait_status(base, "a", "success")
            # the manager forgets the worker: the next post is refused, the worker registers again
            async with aiohttp.ClientSession() as s:
                await s.delete(f"{base}/workers/dut")
            await post(f"http://127.0.0.1:{port}/", b'{"cmd":"start","mirror_id":"a"}')
            await wait_until(lambda: w.jobs["a"].runs >= 2)
            _, workers = await get_json(f"{base}/workers")
            async with asyncio.timeout(20):
                while not workers:
                    await asyncio.sleep(0.05)
                    _, workers = await get_json(f"{base}/workers")
            # the second run's status reached this manager before it stops (a worker keeps only the latest
            # undelivered status per mirror, so one still in flight would be replaced by the third run's)
            await wait_history(base, "a", 2)
        # manager down, a run happens, manager back (same database): re-registered, status delivered
        await post(f"http://127.0.0.1:{port}/", b'{"cmd":"start","mirror_id":"a"}')
        await wait_until(lambda: w.jobs["a"].runs >= 3 and not w.jobs["a"].running)
        async with manager(tmp_path, mport):
            await wait_history(base, "a", 3)
    finally:
        await asyncio.wait_for(w.halt(), 30)


async def test_logs_endpoint_and_follow(tmp_path):
    script = "echo first; while [ ! -e release ]; do sleep 0.02; done; echo second"
    mirrors = [{"name": "talk", "provider": "command", "upstream": "x", "command": sh(script)},
               {"name": "quiet", "provider": "command", "upstream": "x", "command": "true"}]
    async with manager(tmp_path) as base, running_worker(tmp_path, mirrors, api_base=base) as (w, url):
        job = w.jobs["talk"]
        logfile = os.path.join(job.provider.log_dir, "latest")  # the log limiter points it at this run's log
        await wait_until(lambda: os.path.exists(logfile) and open(logfile).read() == "first\n")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}logs/talk") as r:
                assert r.status == 200 and await r.text() == "first\n"
            async with s.get(f"{url}logs/nope") as r:
                assert r.status == 404
            async with s.get(f"{url}logs/talk?follow=1") as r:
                assert await r.content.readexactly(6) == b"first\n"
                (tmp_path / "data" / "talk" / "release").touch()
                assert await asyncio.wait_for(r.content.read(), 20) == b"second\n"  # ends with the run
