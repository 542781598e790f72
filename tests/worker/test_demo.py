"""`./dev demo --once` (the README's first command): manager + worker + rsync daemon reach a first sync,
and the archive tier stores the mirror on the devnet and evicts its old files."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_demo_once_syncs_and_exits_0(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tunasync.demo", "--once", "--dir", str(tmp_path / "demo")],
                         capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "first sync done: 8 files" in out.stdout
    # the archive tier on the devnet: the three old files stored with 2 verified copies, then evicted
    assert "archive of demo" in out.stdout and "stored 5, evicted 3; 1 piece(s) with 2 copies" in out.stdout
    assert not (tmp_path / "demo" / "mirrors" / "demo" / "pool" / "main" / "h" / "hello" / "hello_0.8.tar.gz").exists()
    # and serve hands out an evicted one, retrieved and verified, then cached back in the tree
    assert "420000 bytes, identical to upstream" in out.stdout and "now cached in the mirror tree: True" in out.stdout
    assert '"status": "success"' in out.stdout  # the `tunasynctl list --all` view was printed
    assert (tmp_path / "demo" / "mirrors" / "demo" / "pool" / "main" / "h" / "hello" / "hello_1.0.dsc").is_file()
    assert (tmp_path / "demo" / "tunasync.json").is_file()  # the manager's status file
