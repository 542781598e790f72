"""`tunasync worker` as a real subprocess: --check, flags, SIGHUP reload, SIGTERM halt, a dying provider,
and an rsync that hangs killed at `timeout` (real rsync against a port that never answers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys

import pytest

from tests.worker.jobkit import free_port, write_worker_conf
from tests.worker.test_worker import manager, sh, statuses, wait_status

CLI = [sys.executable, "-m", "tunasync.cli.main", "worker"]


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*CLI, *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_check_reports_every_problem_with_file_and_key(tmp_path):
    conf = write_worker_conf(tmp_path / "w.conf", mirrors=[
        {"name": "a", "provider": "nope", "upstream": "x"},
        {"name": "b", "provider": "command", "upstream": "x", "command": ""},
    ], concurrent=0, extra="\n[global2]\nx = 1\n")
    code, out = await run_cli("--check", "-c", conf)
    assert code == 1
    assert f"error: {conf}: mirrors[0].provider" in out
    assert "mirrors[1]" in out
    assert "warning:" in out and "global.concurrent" in out

    good = write_worker_conf(tmp_path / "good.conf", mirrors=[
        {"name": "a", "provider": "command", "upstream": "x", "command": "true"}])
    code, out = await run_cli("--check", "-c", good)
    assert code == 0, out


async def test_bad_flags_and_config_exit_1(tmp_path):
    good = write_worker_conf(tmp_path / "good.conf")
    code, out = await run_cli("-c", good, "--prof-path", str(tmp_path / "missing"))
    assert code == 1 and "not a directory" in out
    code, out = await run_cli("-c", str(tmp_path / "nope.conf"))
    assert code == 1 and "Error loading config" in out
    (tmp_path / "broken.conf").write_text("[global\n")
    code, out = await run_cli("-c", str(tmp_path / "broken.conf"))
    assert code == 1 and "Error loading config" in out and "broken.conf" in out


@contextlib.asynccontextmanager
async def silent_rsync_port():
    """A TCP port that accepts connections and never says a word: rsync hangs on it."""
    conns = []

    async def hold(reader, writer):
        conns.append(writer)
        await reader.read()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in conns:
            w.close()
        server.close()


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
async def test_worker_process_reload_dying_provider_hanging_rsync_and_sigterm(tmp_path):
    async with manager(tmp_path) as base, silent_rsync_port() as rport:
        mirrors = [
            {"name": "ok", "provider": "command", "upstream": "x", "command": "ls"},
            {"name": "dies", "provider": "command", "upstream": "x", "retry": 1,
             "command": sh("echo dying; kill -9 $$")},
            {"name": "hangs", "provider": "rsync", "upstream": f"rsync://127.0.0.1:{rport}/mod/",
             "timeout": 2, "retry": 1},
        ]
        port = free_port()
        conf = write_worker_conf(tmp_path / "w.conf", port=port, api_base=base, tmp=str(tmp_path), mirrors=mirrors)
        log = open(tmp_path / "worker.log", "wb")  # noqa: ASYNC230
        proc = await asyncio.create_subprocess_exec(*CLI, "-c", conf, "-v", "--tick", "0.1", stdout=log,
                                                    stderr=log, start_new_session=True)
        try:
            await wait_status(base, "ok", "success")
            dead = await wait_status(base, "dies", "failed")
            assert dead["error_msg"] == "signal: killed"
            logs = os.listdir(tmp_path / "log" / "dies")
            assert any(n.endswith(".log.fail") for n in logs), logs
            with open(tmp_path / "log" / "dies" / "latest") as f:  # noqa: ASYNC230
                assert f.read() == "dying\n"
            hung = await wait_status(base, "hangs", "failed", within=40)
            assert hung["error_msg"] == "hangs timeout after 2s"

            # SIGHUP: drop `dies`, add `late`
            mirrors = [m for m in mirrors if m["name"] != "dies"]
            mirrors.append({"name": "late", "provider": "command", "upstream": "x", "command": "true"})
            write_worker_conf(conf, port=port, api_base=base, tmp=str(tmp_path), mirrors=mirrors)
            proc.send_signal(signal.SIGHUP)
            await wait_status(base, "late", "success")
            assert (await statuses(base))["dies"]["status"] == "disabled"

            # SIGTERM: halt, exit 0
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            log.close()
