"""A real `tunasync worker` subprocess with one command mirror, reporting to a given manager."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import aiohttp

from tests.ports import free_port  # noqa: F401 (re-exported)

BIN = Path(sys.executable).parent




def worker_conf(tmp: Path, name: str, manager_url: str, port: int, script: str, mirror: str = "pymirror",
                extra_mirror: str = "") -> Path:
    (tmp / "mirrors").mkdir(exist_ok=True)
    (tmp / "logs").mkdir(exist_ok=True)
    sh = tmp / f"{mirror}.sh"
    sh.write_text("#!/bin/sh\n" + script + "\n")
    sh.chmod(0o755)
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""
[global]
name = "{name}"
log_dir = "{tmp}/logs/{{{{.Name}}}}"
mirror_dir = "{tmp}/mirrors"
concurrent = 2
interval = 60
retry = 1

[manager]
api_base = "{manager_url}"

[server]
hostname = "127.0.0.1"
listen_addr = "127.0.0.1"
listen_port = {port}

[[mirrors]]
name = "{mirror}"
provider = "command"
upstream = "https://upstream.example/{mirror}/"
command = "{sh}"
{extra_mirror}
""")
    return conf


@contextlib.asynccontextmanager
async def worker_process(conf: Path, log_to: Path):
    exe = BIN / "tunasync"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-c", "from tunasync.cli.main import main; main()"]
    out = open(log_to, "wb")  # noqa: ASYNC230 - a log file handed to the child
    proc = await asyncio.create_subprocess_exec(*argv, "worker", "-c", str(conf), "--tick", "0.2", "-v",
                                                stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        out.close()


def _tail(log: Path | None) -> str:
    return log.read_text()[-3000:] if log else ""


async def wait_status(session: aiohttp.ClientSession, base: str, name: str, status: str, within: float = 60,
                      proc=None, log: Path | None = None) -> dict:
    """Poll GET /jobs until mirror `name` has `status`."""
    deadline = time.monotonic() + within
    while True:
        async with session.get(base + "/jobs") as r:
            for j in await r.json():
                if j["name"] == name and j["status"] == status:
                    return j
        if proc is not None and proc.returncode is not None:
            raise AssertionError(f"worker exited {proc.returncode}: {_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never reached {status}: {_tail(log)}")
        await asyncio.sleep(0.1)
