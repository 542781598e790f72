"""Worker test fixtures (shared by the config/provider/hook tests and the job/worker tests).

Keep this file additive: append new fixtures, do not rewrite existing ones.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ports import free_port

STAND_INS = Path(__file__).resolve().parent / "stand-ins"


@dataclass
class MirrorDirs:
    root: Path
    work: Path  # the mirror's working dir (not created: providers create it)
    logs: Path  # the mirror's log dir (created)


@pytest.fixture
def mirror_dirs(tmp_path: Path) -> MirrorDirs:
    logs = tmp_path / "log"
    logs.mkdir()
    return MirrorDirs(tmp_path, tmp_path / "mirror", logs)


class StandIns:
    """The stand-in executables of tests/worker/stand-ins, first on PATH, with their call records."""

    def __init__(self, state: Path):
        self.state = state

    def calls(self, tool: str | None = None) -> list[list[str]]:
        log = self.state / "calls.log"
        if not log.exists():
            return []
        rows = [line.split("\t") for line in log.read_text().splitlines()]
        if tool is None:
            return rows
        return [r[1:] for r in rows if r[0] == tool]

    def add_line(self, name: str, line: str) -> None:
        with open(self.state / name, "a") as f:
            f.write(line + "\n")


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIns:
    state = tmp_path / "stand-in-state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{STAND_INS}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("STANDIN_DIR", str(state))
    return StandIns(state)


@dataclass
class RsyncDaemon:
    url: str  # rsync://127.0.0.1:PORT/mirror/ (module "mirror", read-only)
    source: Path  # the module's directory: put upstream files here
    port: int


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rsync daemon exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"rsync daemon did not listen on {port} within {timeout}s")


@pytest.fixture
def rsync_daemon(tmp_path: Path) -> RsyncDaemon:
    """A real `rsync --daemon` on a free loopback port serving module `mirror`."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    source = tmp_path / "upstream"
    source.mkdir()
    port = free_port()
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(
        f"pid file = {tmp_path}/rsyncd.pid\nuse chroot = no\nuid = {os.getuid()}\ngid = {os.getgid()}\n"
        f"[mirror]\n    path = {source}\n    read only = yes\n"
    )
    with open(tmp_path / "rsyncd.log", "wb") as log:
        proc = subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", f"--port={port}", "--address=127.0.0.1", f"--config={conf}"],
            stdout=log, stderr=log,
        )
    try:
        _wait_port(port, proc)
        yield RsyncDaemon(f"rsync://127.0.0.1:{port}/mirror/", source, port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
