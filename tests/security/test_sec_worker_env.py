"""Issue 11, item 4: the worker's token never reaches a job's or a hook's environment.

Reproduces the outside review black-box: a real manager with tokens, a real worker started with
TUNASYNC_TOKEN in its environment, a command job that prints its environment (so the job log holds
whatever the job was given) and an exec_on_success hook that does the same. Then a `read` token
fetches the job log through the manager, as any dashboard could: the worker's token must not be in
it, nor in the hook's output. A mirror's own `env` still reaches the job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ports import free_port

WORKER_TOKEN = "wt-7f3c9a1e5d2b4c6a8e0f1a2b3c4d5e6f"
READ_TOKEN = "rd-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def _port() -> int:
    return free_port()


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:  # not listening yet
        return 0, b""


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", *args], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def stack(tmp_path: Path):
    mport, wport = _port(), _port()
    tok = tmp_path / "worker.token"
    tok.write_text(WORKER_TOKEN + "\n")
    tok.chmod(0o600)
    mconf = tmp_path / "manager.conf"
    mconf.write_text(f"""
[server]
addr = "127.0.0.1"
port = {mport}
[files]
db_type = "sqlite"
db_file = "{tmp_path}/manager.sqlite"
status_file = ""
[[auth.tokens]]
name = "w1"
role = "worker"
token_file = "{tok}"
[[auth.tokens]]
name = "dashboard"
role = "read"
token = "{READ_TOKEN}"
""")
    mconf.chmod(0o600)
    hook_out = tmp_path / "hook.env"
    job = tmp_path / "job.sh"
    job.write_text("#!/bin/sh\nenv\necho JOB-DONE\n")
    job.chmod(0o755)
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\nenv > {hook_out}\n")
    hook.chmod(0o755)
    wconf = tmp_path / "worker.conf"
    wconf.write_text(f"""
[global]
name = "w1"
log_dir = "{tmp_path}/logs/{{{{.Name}}}}"
mirror_dir = "{tmp_path}/mirrors"
concurrent = 2
interval = 60
retry = 1
[manager]
api_base = "http://127.0.0.1:{mport}"
[server]
hostname = "127.0.0.1"
listen_addr = "127.0.0.1"
listen_port = {wport}
[[mirrors]]
name = "envdump"
provider = "command"
upstream = "https://upstream.example/envdump/"
command = "{job}"
exec_on_success = ["{hook}"]
env = {{ MIRROR_SETTING = "kept-in-job-env" }}
""")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TUNASYNC_TOKEN", None)
    manager = _spawn(["manager", "-c", str(mconf)], tmp_path / "manager.out", env)
    worker = None
    try:
        deadline = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{mport}/ping")[0] != 200:
            assert manager.poll() is None, (tmp_path / "manager.out").read_text()
            assert time.monotonic() < deadline, "manager never answered /ping"
            time.sleep(0.1)
        worker = _spawn(["worker", "-c", str(wconf), "--tick", "0.2"], tmp_path / "worker.out",
                        {**env, "TUNASYNC_TOKEN": WORKER_TOKEN})
        yield f"http://127.0.0.1:{mport}", tmp_path, hook_out, worker
    finally:
        if worker is not None:
            _stop(worker)
        _stop(manager)


def test_job_log_and_hooks_never_carry_the_worker_token(stack):
    base, tmp, hook_out, worker = stack
    deadline = time.monotonic() + 60
    log = b""
    while time.monotonic() < deadline:
        assert worker.poll() is None, (tmp / "worker.out").read_text()[-3000:]
        status, log = _get(f"{base}/workers/w1/jobs/envdump/log", READ_TOKEN)
        if status == 200 and b"JOB-DONE" in log and hook_out.exists() and hook_out.stat().st_size:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the job never finished: {log[-2000:]!r} {(tmp / 'worker.out').read_text()[-3000:]}")
    # What a read token sees: the job's environment, without the worker's token.
    assert b"MIRROR_SETTING=kept-in-job-env" in log  # the mirror's env still reaches the job
    assert b"PATH=" in log  # the worker's ordinary environment too
    assert WORKER_TOKEN.encode() not in log
    assert b"TUNASYNC_TOKEN" not in log
    # The same on disk, and in the exec_on_success hook's environment.
    on_disk = b"".join(p.read_bytes() for p in (tmp / "logs" / "envdump").iterdir() if p.is_file())
    assert WORKER_TOKEN.encode() not in on_disk
    hook_env = hook_out.read_text()
    assert "TUNASYNC_MIRROR_NAME=envdump" in hook_env
    assert "TUNASYNC_TOKEN" not in hook_env and WORKER_TOKEN not in hook_env
    # The worker did authenticate with it: the token is used, only not handed on.
    status, body = _get(f"{base}/jobs")
    assert status == 200 and b'"envdump"' in body
