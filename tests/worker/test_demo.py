"""`./dev demo --once` (the README's first command): manager + worker + rsync daemon reach a first sync."""

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
    assert "first sync done: 5 files" in out.stdout
    assert '"status": "success"' in out.stdout  # the `tunasynctl list --all` view was printed
    assert (tmp_path / "demo" / "mirrors" / "demo" / "pool" / "main" / "h" / "hello" / "hello_1.0.dsc").is_file()
    assert (tmp_path / "demo" / "tunasync.json").is_file()  # the manager's status file
