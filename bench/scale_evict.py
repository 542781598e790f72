"""Part `evict` of bench/scale.py: evicting stored files vs `find -delete` on the same files, and
`tunasync archive status` / `archive ls` on the whole index.

A tree of --files small files (bench/scaletree.py) is indexed and stored on a local devnet through the
real store path (`tunasync archive store`, large bundles, copies = 2). `keep_years` is chosen so that
--evict files of it are due. Then, on a second byte-identical tree, `find -newermt -delete` removes
the same files (the reference), and `tunasync archive evict` evicts them for real: copies re-checked
on chain per bundle, one verified piece retrieval per bundle, journaled batches, fsyncs. Ratio = find
time / evict time (goal >= 0.25x); the seeding store's peak RSS has a goal of its own (<= 250 MB up
to 1M files, 300 MB up to 2M). Then `archive status --json` (goal < 1 s, process start included)
and `archive ls` of one directory, on the index of --files files, half of them evicted.
Peak RSS of each command comes from wait4 on the child.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scaletree import build_tree, file_mtime, rel_path, remove_tree, tree_now

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
YEAR_DAYS = 365.2425
STATUS_GOAL = 1.0
RATIO_GOAL = 0.25


def store_rss_goal(n: int) -> int:
    """Peak RSS goal of `archive store` in MB: 250 up to 1M files, 300 up to 2M (issue 14)."""
    return 250 if n <= 1_000_000 else 300


def add_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("evict")
    g.add_argument("--evict", type=int, default=500_000, help="files to evict (default 500,000)")
    g.add_argument("--evict-bundle-size", default="4GiB", help="bundle_size when seeding (default 4GiB)")


def _env() -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), "PYTHONUNBUFFERED": "1"}


CPU: dict[str, float] = {}  # the last command's CPU seconds (user + system), from wait4


def _timed_rss(argv: list[str]) -> tuple[float, int, str]:
    """Run a command: (seconds, the child's own peak RSS in MB from wait4, stdout); fails on a non-zero exit.
    Its CPU time goes to CPU["last"] (on a loaded machine the wall time says less)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert p.stdout is not None and p.stderr is not None
    data = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    p.returncode = code
    CPU["last"] = ru.ru_utime + ru.ru_stime
    if code:
        raise SystemExit(f"{' '.join(argv[:6])} ... failed ({code}): {err.decode()[-2000:]}")
    return secs, ru.ru_maxrss // 1024, data.decode()


class Devnet:
    def __init__(self, data: Path):
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> Devnet:
        shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True)
        ready = self.data.with_name(self.data.name + ".ready.json")
        ready.unlink(missing_ok=True)
        log = open(self.data.with_name(self.data.name + ".log"), "ab")
        self.proc = subprocess.Popen([PY, "-m", "tunasync.cli.main", "devnet", "--data", str(self.data),
                                      "--port", "0", "--provider-port", "0", "--providers", "3",
                                      "--epoch-seconds", "0.05", "--ready-file", str(ready)],
                                     stdout=log, stderr=subprocess.STDOUT, env=_env())
        log.close()
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("devnet did not start")
            time.sleep(0.05)
        self.url = json.loads(ready.read_text())["url"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _conf(base: Path, devnet: str, root: Path, keep_years: float, bundle_size: str) -> Path:
    conf = base / "worker.conf"
    conf.write_text(f"""
[global]
name = "scale"
log_dir = "{base}/log/{{{{.Name}}}}"
mirror_dir = "{base}/mirrors"
concurrent = 1
interval = 60

[manager]
api_base = "http://127.0.0.1:1"

[server]
listen_addr = "127.0.0.1"
listen_port = 6000

[archive]
network = "devnet"
devnet_url = "{devnet}"
index_dir = "{base}/archive"
copies = 2
keep_years = {keep_years}
bundle_size = "{bundle_size}"
count_foreign_copies = false

[[mirrors]]
name = "scale"
provider = "command"
command = "true"
upstream = ""
mirror_dir = "{root}"
archive = true
""")
    return conf


def _cli(conf: Path, *args: str, profile: str | None = None) -> list[str]:
    prof = ["-m", "cProfile", "-o", profile] if profile else []
    return [PY, *prof, "-m", "tunasync.cli.main", "archive", args[0], "-c", str(conf), *args[1:]]


def run(args: Any) -> list[str]:
    n, want = int(args.files), min(int(args.evict), int(args.files))
    base: Path = args.dir / f"evict-{n}"
    shutil.rmtree(base / "archive", ignore_errors=True)
    root, built, _ = build_tree(base / "mirror", n)
    stamp = tree_now(root)
    # keep the newest (n - want) files: the cutoff falls just after the want-th oldest mtime
    mtimes = sorted(file_mtime(i, stamp) for i in range(n))
    cut = mtimes[want - 1] + 1 if want < n else mtimes[-1] + 1
    keep_years = (time.time() - cut) / (YEAR_DAYS * 86400)
    del mtimes
    print(f"tree of {n:,} files ({built:.0f} s to build); keep_years {keep_years:.4f}: about {want:,} due", flush=True)
    lines: list[str] = []
    try:
        with Devnet(base / "devnet") as dn:
            conf = _conf(base, dn.url, root, keep_years, args.evict_bundle_size)
            secs, rss, _ = _timed_rss(_cli(conf, "store", "scale", "--wait", "1800", "--poll", "1"))
            print(f"seeded: archive store (scan, hash, pack, offer, wait for copies) {secs:.1f} s, "
                  f"peak RSS {rss} MB", flush=True)
            goal = store_rss_goal(n)
            lines.append(f"{'PASS' if rss <= goal else 'MISS'} archive store of {n:,} files: peak RSS {rss} MB "
                         f"(goal <= {goal} MB; {secs:.0f} s, {CPU['last']:.0f} s CPU)")
            st = json.loads(_timed_rss(_cli(conf, "status", "scale", "--json"))[2])
            due = st["evictable_now"]["files"]
            print(f"stored {st['states']['stored']['files']:,} files in {sum(b['count'] for b in st['bundles'].values())}"
                  f" bundle(s); evictable now {due:,}", flush=True)
            # the reference: find -delete of the same files in a byte-identical tree
            ref = build_subset(base / "ref", n, stamp, want)
            cutoff = datetime.now(timezone.utc).timestamp() - keep_years * YEAR_DAYS * 86400
            subprocess.run(["sync"], check=True)
            t_find, _, _ = _timed_rss(["find", str(ref), "-type", "f", "!", "-newermt", f"@{cutoff:.3f}", "-delete"])
            c_find = CPU["last"]
            t0 = time.perf_counter()
            subprocess.run(["sync", "-f", str(ref)], check=True)  # what making them durable costs (info only)
            t_sync = time.perf_counter() - t0
            left = sum(len(f) for _, _, f in os.walk(ref))
            print(f"find -delete: {t_find:.2f} s ({c_find:.2f} s CPU), {want - left:,} files removed; a sync -f "
                  f"after it {t_sync:.2f} s (not counted: our eviction's fsyncs are)", flush=True)
            shutil.rmtree(ref, ignore_errors=True)
            t_ev, rss_ev, out = _timed_rss(_cli(conf, "evict", "scale", "--json",
                                                     profile=os.environ.get("SCALE_EVICT_PROFILE")))
            c_ev = CPU["last"]
            rep = json.loads(out)
            evicted = len(rep["evicted"])
            kept = len(rep["kept"])
            print(f"archive evict: {t_ev:.2f} s ({c_ev:.2f} s CPU), {evicted:,} evicted ({kept:,} kept), "
                  f"peak RSS {rss_ev} MB", flush=True)
            ratio = t_find / t_ev if t_ev else 0.0
            times, cpus = [], []
            for _ in range(3):
                t, rss_st, out = _timed_rss(_cli(conf, "status", "scale", "--json"))
                times.append(t)
                cpus.append(CPU["last"])
            st = json.loads(out)
            t_st = min(times)
            d = os.path.dirname(os.path.relpath(next(p for p in _first_files(root)), root))
            t_ls, _, out_ls = _timed_rss(_cli(conf, "ls", "scale", d, "--json"))
            print(f"archive status: {t_st:.3f} s (runs {', '.join(f'{t:.3f}' for t in times)}; CPU "
                  f"{min(cpus):.3f} s), peak RSS {rss_st} MB;"
                  f" states {json.dumps({k: v['files'] for k, v in st['states'].items()})}", flush=True)
            print(f"archive ls {d}: {t_ls:.3f} s for {len(json.loads(out_ls))} file(s)", flush=True)
            lines.append(f"{'PASS' if ratio >= RATIO_GOAL else 'MISS'} evict: {evicted:,} stored files in {t_ev:.1f} s"
                         f" vs find -delete {t_find:.1f} s: {ratio:.2f}x (goal >= {RATIO_GOAL}x; CPU {c_ev:.1f} s vs "
                         f"{c_find:.1f} s), peak RSS {rss_ev} MB")
            lines.append(f"{'PASS' if t_st < STATUS_GOAL else 'MISS'} archive status on the {n:,}-file index: "
                         f"{t_st:.2f} s (goal < {STATUS_GOAL:.0f} s, process start included; CPU {min(cpus):.2f} s)")
            lines.append(f"{'PASS' if t_ls < STATUS_GOAL else 'MISS'} archive ls of one directory: {t_ls:.2f} s")
            if evicted < due:
                lines.append(f"MISS evict: {due - evicted:,} due file(s) were not evicted")
    finally:
        remove_tree(base / "mirror")  # eviction changed it: never reused
        shutil.rmtree(base, ignore_errors=True)
    for line in lines:
        print(line)
    return lines


def build_subset(root: Path, n: int, stamp: int, want: int) -> Path:
    """The `want` oldest files of scaletree's tree of `n` (same paths, bytes and mtimes), nothing else:
    what `find -delete` removes, without writing the half it would leave."""
    shutil.rmtree(root, ignore_errors=True)
    order = sorted(range(n), key=lambda i: file_mtime(i, stamp))
    chosen = set(order[:want])
    del order
    rnd = random.Random(1)  # scaletree's size sequence, drawn for every file to stay in step
    blob = random.Random(7).randbytes(4096)
    made: set[str] = set()
    for i in range(n):
        size = rnd.randint(500, 2048)
        if i not in chosen:
            continue
        p = root / rel_path(i)
        d = str(p.parent)
        if d not in made:
            p.parent.mkdir(parents=True, exist_ok=True)
            made.add(d)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, blob[:size])
        os.close(fd)
        t = file_mtime(i, stamp)
        os.utime(p, (t, t))
    return root


def _first_files(root: Path) -> Any:
    for dirpath, _dirs, files in os.walk(root):
        for f in sorted(files):
            yield os.path.join(dirpath, f)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/tunasync-scale"))
    add_args(ap)
    run(ap.parse_args())
