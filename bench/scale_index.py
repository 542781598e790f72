"""The `index` part of bench/scale.py: a first index and a rescan of N small files, against references
measured in the same run on the same tree (built by scaletree.py, kept between runs).

1. First index: `tunasync archive scan MIRROR` (walk, hash, record every CID in the index) as a child
   process on a fresh index, against `find DIR -type f -print0 | xargs -0 -n 5000 sha256sum`, run
   before and after ours (the faster counts). Goal >= 0.5x (stretch >= 1x, both cores).
2. Peak RSS of that command (wait4 of the child: its own maximum resident set). Goal <= 250 MB at
   1M files, <= 300 MB at 2M (the goal is scaled linearly between and capped below at 250 MB).
3. The index's bytes per file (index.sqlite with its WAL; the scan snapshot beside it apart).
4. Rescan with nothing changed: a child `python -c` opening the index and calling scan() (interpreter
   start included), alternating with `find DIR -printf '%s %T@\\n'` (warm caches, median ratio).
   Goal <= 1.0x. Its peak RSS counts against the same memory goal.
5. `tunasync archive status MIRROR` on that index: goal < 1 s (best of 3, interpreter start included;
   also the figures alone, opened and read in a running process), and `tunasync archive ls` of one
   directory (1,000 files).

Page cache: the tree is read once before anything is timed (both sides run warm).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import scaletree

MB = 1 << 20


def add_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("index")
    g.add_argument("--rescan-rounds", type=int, default=5, help="rescan/find pairs (median ratio)")
    g.add_argument("--keep-index", action="store_true", help="keep the index built by the first-index run")


def _conf(base: Path, root: Path) -> Path:
    conf = base / "index-worker.conf"
    conf.write_text(f"""
[global]
name = "scale"
log_dir = "{base}/log/{{{{.Name}}}}"
mirror_dir = "{base}/mirrors"

[manager]
api_base = "http://127.0.0.1:1"

[archive]
network = "devnet"
devnet_url = "http://127.0.0.1:1"
index_dir = "{base}/index"

[[mirrors]]
name = "scale"
provider = "command"
command = "true"
mirror_dir = "{root}"
archive = true
""")
    return conf


def _child(cmd: list[str], *, shell: bool = False) -> tuple[float, int, str]:
    """Run a child to completion: (seconds, its own peak RSS in bytes, stdout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd if not shell else cmd[0], shell=shell, stdout=subprocess.PIPE, env=env)
    out = p.stdout.read() if p.stdout else b""
    _, status, ru = os.wait4(p.pid, 0)
    took = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd} failed with {p.returncode}: {out[-2000:]!r}")
    return took, ru.ru_maxrss * 1024, out.decode(errors="replace")


def _ok(good: bool) -> str:
    return "PASS" if good else "MISS"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> list[str]:
    files: int = args.files
    base: Path = args.dir
    root, made, reused = scaletree.build_tree(base / f"tree-{files}", files)
    print(f"[index] tree {root}: {files:,} files, {'reused' if reused else 'built'} ({made:.0f} s, not measured)",
          flush=True)
    conf = _conf(base, root)
    ix_dir = base / "index" / "scale"
    py = sys.executable
    sha_ref = [f"find {root} -type f -print0 | xargs -0 -n 5000 sha256sum > /dev/null"]
    find_ref = ["find", str(root), "-printf", r"%s %T@\n"]
    subprocess.run(["find", str(root), "-type", "f", "-exec", "cat", "{}", "+"], stdout=subprocess.DEVNULL,
                   check=True)  # warm: every file's bytes in the page cache, for both sides

    # 1-3: first index
    ref1, _, _ = _child(sha_ref, shell=True)
    shutil.rmtree(ix_dir, ignore_errors=True)
    took, rss, out = _child([py, "-m", "tunasync.cli.main", "archive", "scan", "-c", str(conf), "--json", "scale"])
    ref2, _, _ = _child(sha_ref, shell=True)
    ref = min(ref1, ref2)
    ratio = ref / took
    print(f"[index] first index: {took:.1f} s, sha256sum reference {ref1:.1f} / {ref2:.1f} s -> {ratio:.2f}x "
          f"(load {_load()}); {out.strip()[:300]}", flush=True)
    index_bytes = sum(p.stat().st_size for p in ix_dir.glob("index.sqlite*") if not p.name.endswith(".snapshot"))
    snap = ix_dir / "index.sqlite.snapshot"
    snap_bytes = snap.stat().st_size if snap.exists() else 0
    rss_goal = max(250.0, 250 + 50 * (files - 1_000_000) / 1_000_000) * MB
    print(f"[index] first index peak RSS {rss / MB:.0f} MB ({rss / files:.0f} B/file); index "
          f"{index_bytes / files:.0f} B/file ({index_bytes / MB:.0f} MB) + snapshot {snap_bytes / files:.0f} B/file",
          flush=True)

    # 4: rescan with nothing changed
    rescan = [py, "-c", "import sys; from tunasync.archive.index import ArchiveIndex; "
              "from tunasync.archive.scan import scan; "
              "r = scan(sys.argv[1], ArchiveIndex(sys.argv[2])); "
              "print(r.files, r.changed_files, len(r.deleted), len(r.errors))",
              str(root), str(ix_dir / "index.sqlite")]
    _child(find_ref)
    _child(rescan)
    ratios, rescan_rss = [], 0
    for i in range(args.rescan_rounds):
        tf, _, _ = _child(find_ref)
        ts, rrss, out = _child(rescan)
        if out.split() != [str(files), "0", "0", "0"]:
            sys.exit(f"rescan of an unchanged tree found changes: {out}")
        rescan_rss = max(rescan_rss, rrss)
        ratios.append(ts / tf)
        print(f"[index] rescan round {i + 1}: find {tf:.2f} s, rescan {ts:.2f} s, ratio {ts / tf:.2f} "
              f"(peak RSS {rrss / MB:.0f} MB, load {_load()})", flush=True)
    rratio = statistics.median(ratios)

    # 5: status, ls
    status = [py, "-m", "tunasync.cli.main", "archive", "status", "-c", str(conf), "--json", "scale"]
    ts = min(_child(status)[0] for _ in range(3))
    inproc = [py, "-c", "import sys, time; from tunasync.archive.index import ArchiveIndex; "
              "from tunasync.archive.policy import Policy; from tunasync.archive.status import figures; "
              "t = time.perf_counter(); ix = ArchiveIndex(sys.argv[1]); figures(ix, Policy()); "
              "print(f'{time.perf_counter() - t:.3f}')", str(ix_dir / "index.sqlite")]
    tq = min(float(_child(inproc)[2]) for _ in range(3))
    one_dir = os.path.dirname(scaletree.rel_path(files // 2))
    tl = min(_child([py, "-m", "tunasync.cli.main", "archive", "ls", "-c", str(conf), "scale", one_dir])[0]
             for _ in range(3))
    print(f"[index] archive status: {ts:.2f} s (best of 3; the figures alone {tq * 1000:.0f} ms); archive ls of "
          f"{one_dir}: {tl:.2f} s (load {_load()})", flush=True)
    if not args.keep_index:
        shutil.rmtree(base / "index", ignore_errors=True)
    n = f"{files:,} files"
    peak = max(rss, rescan_rss)
    return [
        f"index  first index ({n}): {ratio:.2f}x sha256sum ({took:.1f} s vs {ref:.1f} s)  goal >= 0.5x  "
        f"{_ok(ratio >= 0.5)}  (stretch >= 1x {_ok(ratio >= 1.0)})",
        f"index  peak RSS ({n}): first index {rss / MB:.0f} MB, rescan {rescan_rss / MB:.0f} MB  "
        f"goal <= {rss_goal / MB:.0f} MB  {_ok(peak <= rss_goal)}",
        f"index  index size ({n}): {index_bytes / files:.0f} B/file + snapshot {snap_bytes / files:.0f} B/file  (reported)",
        f"index  rescan, nothing changed ({n}): {rratio:.2f}x find -printf (median of {len(ratios)})  goal <= 1.0x  "
        f"{_ok(rratio <= 1.0)}",
        f"index  archive status ({n}): {ts:.2f} s (figures alone {tq * 1000:.0f} ms)  goal < 1 s  {_ok(ts < 1.0)}",
        f"index  archive ls of one directory ({n}): {tl:.2f} s  (reported)",
    ]
