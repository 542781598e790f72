#!/usr/bin/env python3
"""The archive tier at mirror scale: every figure of the scale goals in one run, or one part alone.

Parts (each its own module `bench/scale_<part>.py` with `add_args(parser)` and `run(args) -> list[str]`
returning the summary lines it printed as PASS/MISS):
  index   first index of N small files vs `find | xargs -0 -n 5000 sha256sum`; peak RSS; index bytes per file;
          rescan with nothing changed vs `find -printf '%s %T@\\n'`; `archive status` time
  rsync   an rsync sync from a local `rsync --daemon` with half the files evicted vs none evicted;
          the daemon's CPU time in both
  evict   evicting stored files vs `find -delete` on the same files

Trees come from bench/scaletree.py under --dir (default /tmp/tunasync-scale) and are kept between runs
unless --clean. The whole run may take up to 30 minutes at 1M files.

usage: .venv/bin/python bench/scale.py [--files 1000000] [--dir DIR] [--clean] [index|rsync|evict ...]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ["index", "rsync", "evict"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", help="parts to run (default: all)")
    ap.add_argument("--files", type=int, default=1_000_000, help="files in the tree (default 1,000,000)")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/tunasync-scale"), help="where trees are kept")
    ap.add_argument("--clean", action="store_true", help="remove the trees and indexes after the run")
    mods = {}
    for part in PARTS:
        try:
            mods[part] = importlib.import_module(f"scale_{part}")
        except ModuleNotFoundError:
            continue
        mods[part].add_args(ap)
    args = ap.parse_args()
    chosen = args.parts or [p for p in PARTS if p in mods]
    missing = [p for p in chosen if p not in mods]
    if missing:
        sys.exit(f"part(s) not built yet: {', '.join(missing)}")
    args.dir.mkdir(parents=True, exist_ok=True)
    summary: list[str] = []
    t0 = time.perf_counter()
    for part in chosen:
        print(f"=== {part} ({args.files:,} files)", flush=True)
        summary += mods[part].run(args)
    print(f"=== summary ({time.perf_counter() - t0:.0f} s)")
    for line in summary:
        print(line)
    if args.clean:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
