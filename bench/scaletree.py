"""Trees of many small files for the scale benches (`bench/scale.py` and its parts).

A tree of N files, 500 B to 2 KB each, 1,000 per directory, laid out like a distribution mirror's pool
(`pool/<xx>/<libyy-n>/package-<i>_....deb`). Content is deterministic (seeded), so two trees of the same N
are byte-identical and an index built over one describes the other. A marker file records that a tree is
complete; an interrupted build is rebuilt. mtimes are spread over ten years (the newest in the last
year), so a `keep_years = 1` eviction rule finds about 90 % of the tree old.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

PER_DIR = 1000
YEAR = 365 * 86400


def rel_path(i: int) -> str:
    return f"pool/{i // 100_000:02d}/lib{(i // PER_DIR) % 100:02d}-{i // PER_DIR}/package-{i:07d}_1.{i % 97}-{i % 7}_amd64.deb"


def file_mtime(i: int, now: int) -> int:
    """Seconds since the epoch: spread over ten years, deterministic per file."""
    return now - (i * 7919 % (10 * YEAR))


def build_tree(root: Path, files: int, *, now: int | None = None) -> tuple[Path, float, bool]:
    """Build (or reuse) `root` holding `files` small files. Returns (root, seconds spent, reused)."""
    marker = root.with_name(root.name + ".complete")
    if marker.exists() and root.is_dir():
        return root, float(marker.read_text().split()[0]), True
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    stamp = now if now is not None else int(time.time())
    t0 = time.perf_counter()
    rnd = random.Random(1)
    blob = random.Random(7).randbytes(4096)
    for i in range(files):
        if i % PER_DIR == 0:
            d = root / os.path.dirname(rel_path(i))
            d.mkdir(parents=True, exist_ok=True)
        p = root / rel_path(i)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, blob[: rnd.randint(500, 2048)])
        os.close(fd)
        t = file_mtime(i, stamp)
        os.utime(p, (t, t))
    made = time.perf_counter() - t0
    marker.write_text(f"{made:.1f} {stamp}\n")
    return root, made, False


def tree_now(root: Path) -> int:
    """The `now` a tree was built with (mtimes are relative to it)."""
    return int(root.with_name(root.name + ".complete").read_text().split()[1])


def remove_tree(root: Path) -> None:
    root.with_name(root.name + ".complete").unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
