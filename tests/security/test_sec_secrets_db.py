"""Issue 11, item 5: the manager's SQLite database (it holds the workers' tokens) is private on disk.

A real `tunasync manager` process, started with the usual umask 022, creates its database: the file,
its -wal and its -shm are 0600 (owner only), while the manager runs. A database left 0644 by an
older version (with its WAL and SHM) is narrowed to 0600 when the manager opens it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, payload: dict) -> int:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except OSError:
        return 0


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def manager(tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(db: Path) -> tuple[str, subprocess.Popen]:
        port = _port()
        conf = tmp_path / "manager.conf"
        conf.write_text(f'[server]\naddr = "127.0.0.1"\nport = {port}\n'
                        f'[files]\ndb_type = "sqlite"\ndb_file = "{db}"\nstatus_file = ""\n')
        out = (tmp_path / "manager.out").open("ab")
        p = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "manager", "-c", str(conf)],
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=lambda: os.umask(0o022))
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        # A registration with a token: the row that must not be readable by others.
        while _post(base + "/workers", {"id": "w1", "url": "http://127.0.0.1:1/", "token": "secret-w1"}) != 200:
            assert p.poll() is None, (tmp_path / "manager.out").read_text()
            assert time.monotonic() < deadline, "manager never answered"
            time.sleep(0.1)
        return base, p

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(20)


def test_a_new_database_and_its_wal_and_shm_are_0600(tmp_path, manager):
    db = tmp_path / "state" / "tunasync.db"
    db.parent.mkdir()
    manager(db)
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    assert db.exists() and wal.exists() and shm.exists()
    assert b"secret-w1" in db.read_bytes() + wal.read_bytes()  # the token really is in these files
    assert {p.name: oct(_mode(p)) for p in (db, wal, shm)} == {p.name: "0o600" for p in (db, wal, shm)}


def test_an_old_world_readable_database_is_narrowed_at_startup(tmp_path, manager):
    db = tmp_path / "tunasync.db"
    conn = sqlite3.connect(db)  # as an older version left it: 0644, WAL mode, a WAL file still there
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE leftover (x)")
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if p.exists():
            p.chmod(0o644)
    manager(db)
    conn.close()
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert _mode(p) == 0o600, (p, oct(_mode(p)))
    assert "readable by others" in (tmp_path / "manager.out").read_text()
