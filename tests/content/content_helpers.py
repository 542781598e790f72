"""Shared helpers for the content-addressing tests: vector inputs, the npm oracles, the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_PERIOD = bytes(i % 251 for i in range(251 * 4096))


def pattern_bytes(n: int) -> bytes:
    """The shared `oracle/pattern.py` input: byte i is i % 251."""
    reps = -(-n // len(_PERIOD)) if n else 0
    return (_PERIOD * reps)[:n]


def write_pattern(path: Path, n: int) -> Path:
    """Write `pattern n` without holding it in memory (same bytes as oracle/pattern.py)."""
    with open(path, "wb") as f:
        while n > 0:
            k = min(n, len(_PERIOD))
            f.write(_PERIOD[:k])
            n -= k
    return path


def run_node(oracle_dir: Path, script: str, *args: str, timeout: float = 120) -> str:
    """Run an ES module (text) with the oracle's node_modules; return stdout."""
    proc = subprocess.run(["node", "--input-type=module", "-e", script, "--", *args], cwd=oracle_dir,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"node failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def ipfs_car(oracle_dir: Path, *args: str, timeout: float = 120) -> str:
    """Run the ipfs-car CLI from the oracle's node_modules; return stdout."""
    binary = oracle_dir / "node_modules" / ".bin" / "ipfs-car"
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"ipfs-car {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def tunasync(*args: str, cwd: str | os.PathLike | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `tunasync` CLI in a subprocess."""
    return subprocess.run([sys.executable, "-m", "tunasync.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
