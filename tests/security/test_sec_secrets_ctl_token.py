"""Issue 11, item 17: `tunasynctl --token` keeps working, but says (on stderr only) that the token is
visible to every user, and its --help names the safe ways: env TUNASYNC_TOKEN or `token` in ctl.conf.

Against a real manager process with an admin token: stdout and the exit code are the same whichever
way the token comes, so scripts that parse the output are not broken.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ADMIN = "adm-4b9e2f7c1d8a"


def ctl(*args: str, home: Path, token_env: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)}
    env.pop("TUNASYNC_TOKEN", None)
    if token_env:
        env["TUNASYNC_TOKEN"] = token_env
    return subprocess.run([sys.executable, "-m", "tunasync.cli.ctl", *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture
def manager(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "manager.conf"
    conf.write_text(f'[server]\naddr = "127.0.0.1"\nport = {port}\n[files]\ndb_file = "{tmp_path}/m.db"\n'
                    f'status_file = ""\n[[auth.tokens]]\nname = "ops"\nrole = "admin"\ntoken = "{ADMIN}"\n')
    conf.chmod(0o600)
    p = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "manager", "-c", str(conf)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                break
        except OSError:
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    yield port
    p.terminate()
    p.wait(20)


def test_token_flag_works_and_warns_on_stderr_only(tmp_path, manager):
    where = ("-m", "127.0.0.1", "-p", str(manager))
    by_flag = ctl("workers", "--token", ADMIN, *where, home=tmp_path)
    by_env = ctl("workers", *where, home=tmp_path, token_env=ADMIN)
    assert by_env.returncode == 0 and by_env.stdout == "null\n"  # no worker yet; Go prints a nil list so
    assert (by_flag.returncode, by_flag.stdout) == (by_env.returncode, by_env.stdout)
    assert "--token shows the token to every user" in by_flag.stderr
    assert "TUNASYNC_TOKEN" in by_flag.stderr and "ctl.conf (mode 0600)" in by_flag.stderr
    assert ADMIN not in by_flag.stderr
    assert by_env.stderr == ""
    conf = tmp_path / "ctl.conf"
    conf.write_text(f'token = "{ADMIN}"\n')
    conf.chmod(0o600)
    by_file = ctl("workers", "-c", str(conf), *where, home=tmp_path)
    assert (by_file.returncode, by_file.stdout, by_file.stderr) == (0, by_env.stdout, "")


def test_help_names_the_safe_ways(tmp_path):
    text = " ".join(ctl("list", "--help", home=tmp_path).stdout.split())
    assert "--token TOKEN" in text
    assert "Other users see it in the process list: prefer env TUNASYNC_TOKEN or `token` in ctl.conf (mode 0600)" in text
