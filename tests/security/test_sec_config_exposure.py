"""Issue 11, item 6: a worker control port or a manager API reachable beyond loopback without a token
is said out loud by `--check` (file and key named, exit code still 0) and in the manager's log at start.

The worker's control server binds every interface when `listen_addr` is empty (Go's default, kept
for drop-in); anyone who reaches it can start and stop jobs and read their logs unless a token is set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def tunasync(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TUNASYNC_TOKEN", None)
    if token:
        env["TUNASYNC_TOKEN"] = token
    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", *args], capture_output=True, text=True,
                       timeout=60, env=env)
    assert "Traceback" not in p.stdout + p.stderr
    return p


def worker_conf(tmp: Path, server: str, manager: str = "") -> Path:
    conf = tmp / "worker.conf"
    conf.write_text(f"""
[global]
name = "w"
log_dir = "{tmp}/log"
mirror_dir = "{tmp}/m"
concurrent = 2
interval = 60
[manager]
api_base = "http://127.0.0.1:14242"
{manager}
[server]
hostname = "w.example"
listen_port = 6000
{server}
""")
    conf.chmod(0o600)
    return conf


@pytest.mark.parametrize("server, where", [("", "every interface"), ('listen_addr = "0.0.0.0"', "'0.0.0.0'"),
                                           ('listen_addr = "::"', "'::'"), ('listen_addr = "10.1.2.3"', "'10.1.2.3'")])
def test_worker_control_port_beyond_loopback_without_token_is_warned(tmp_path, server, where):
    conf = worker_conf(tmp_path, server)
    p = tunasync("worker", "--check", "-c", str(conf))
    assert p.returncode == 0, p.stdout
    assert (f"warning: {conf}: server.listen_addr: the control server listens on {where} (port 6000) with no "
            "token") in p.stdout


def test_a_token_or_loopback_leaves_nothing_to_say(tmp_path):
    server = ""  # every interface
    conf = worker_conf(tmp_path, server)
    assert "server.listen_addr" not in tunasync("worker", "--check", "-c", str(conf), token="t0k").stdout
    assert "server.listen_addr" not in tunasync("worker", "--check", "-c",
                                                str(worker_conf(tmp_path, server, 'token = "t0k"'))).stdout
    for addr in ("127.0.0.1", "::1", "localhost"):
        p = tunasync("worker", "--check", "-c", str(worker_conf(tmp_path, f'listen_addr = "{addr}"')))
        assert (p.returncode, "warning:" in p.stdout) == (0, False), p.stdout


def test_manager_beyond_loopback_without_auth_is_warned(tmp_path):
    conf = tmp_path / "manager.conf"
    conf.write_text(f'[server]\naddr = "0.0.0.0"\nport = 14242\n[files]\ndb_file = "{tmp_path}/m.db"\n'
                    'status_file = ""\n')
    p = tunasync("manager", "--check", "-c", str(conf))
    assert p.returncode == 0
    assert p.stdout.startswith(f"warning: {conf}: server.addr: the API listens on '0.0.0.0' with no [[auth.tokens]]")
    # --addr on the command line counts as much as the file.
    conf.write_text(conf.read_text().replace('"0.0.0.0"', '"127.0.0.1"'))
    assert "warning:" not in tunasync("manager", "--check", "-c", str(conf)).stdout
    assert "server.addr" in tunasync("manager", "--check", "-c", str(conf), "--addr", "0.0.0.0").stdout
    conf.write_text(conf.read_text() + '[[auth.tokens]]\nrole = "admin"\ntoken = "t0k"\n')
    assert "server.addr" not in tunasync("manager", "--check", "-c", str(conf), "--addr", "0.0.0.0").stdout


def test_manager_says_it_in_its_log_at_start(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "manager.conf"
    conf.write_text(f'[server]\naddr = "0.0.0.0"\nport = {port}\n[files]\ndb_file = "{tmp_path}/m.db"\n'
                    'status_file = ""\n')
    out = tmp_path / "manager.out"
    p = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "manager", "-c", str(conf)],
                         stdout=out.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while "server.addr" not in out.read_text():
            assert p.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
    finally:
        p.terminate()
        p.wait(20)
    assert "with no [[auth.tokens]]" in out.read_text()
