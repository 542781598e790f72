"""Stress: real kill -9 of `tunasync archive store|evict` at random moments, over and over.

    .venv/bin/python bench/archive_crash.py [--kills 200] [--seed 1] [--workdir DIR]

Starts `tunasync devnet` (3 providers) and a mirror of generated files, most with old mtimes (due for
eviction), copies = 2. Each cycle adds a few new files, then runs `store` and `evict` as subprocesses
and SIGKILLs each at a random instant between the end of its start-up and its measured duration (a kill
during the interpreter's start-up proves nothing). After every kill, before any restart, it checks the
mission's invariant on the whole tree: each file is on disk with its bytes, or the index has its CID and
a retrieval from the devnet verifies against it and gives the same bytes. At the end a run without kills
must finish the job: every old file evicted, no journal entry open, no temporary file left.
Prints the kills, how many interrupted a half-done step (journal open, bundle packing, temporary files),
and the files lost (goal 0).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
YEAR = 365.2425 * 86400


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tunasync.cli.main", *args]


def start_devnet(work: Path) -> tuple[subprocess.Popen, dict]:
    ready = work / "devnet.ready"
    proc = subprocess.Popen(cli("devnet", "--data", str(work / "devnet"), "--port", "0", "--provider-port", "0",
                                "--providers", "3", "--epoch-seconds", "0.02", "--ready-file", str(ready)),
                            stdout=open(work / "devnet.log", "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"devnet did not start: {(work / 'devnet.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def write_conf(work: Path, devnet_url: str, mirror: Path) -> Path:
    conf = work / "worker.conf"
    conf.write_text(f"""
[global]
name = "crash-bench"
log_dir = "{work}/log/{{{{.Name}}}}"
mirror_dir = "{work}/mirrors"
[manager]
api_base = "http://127.0.0.1:1"
[server]
listen_port = 6000
[archive]
network = "devnet"
devnet_url = "{devnet_url}"
index_dir = "{work}/archive"
copies = 2
keep_years = 1
bundle_size = "512KiB"
[[mirrors]]
name = "stress"
provider = "command"
command = "true"
upstream = ""
mirror_dir = "{mirror}"
archive = true
""")
    return conf


def add_files(mirror: Path, rng: random.Random, cycle: int, expected: dict[str, str]) -> None:
    """Three old files and one young one per cycle (sizes from 1 B to 600 KB, random bytes)."""
    for i in range(4):
        rel = f"pool/c{cycle:03d}/f{i}.bin"
        data = rng.randbytes(rng.choice([1, 700, 20_000, 150_000, 600_000]))
        p = mirror / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        if i < 3:
            t = time.time() - 3 * YEAR
            os.utime(p, (t, t))
        expected[rel] = hashlib.sha256(data).hexdigest()


def half_done(index: Path, mirror: Path, archive_dir: Path) -> tuple[bool, bool]:
    """(a journaled step is half done: journal entry, bundle packing, temporary file;
        work is in flight: that, or deals under way, or files hashed but not yet stored)"""
    with sqlite3.connect(index) as db:
        journal = db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        packing = db.execute("SELECT COUNT(*) FROM bundles WHERE state = 'packing'").fetchone()[0]
        open_ = db.execute("SELECT COUNT(*) FROM bundles WHERE state IN ('staged', 'offered')").fetchone()[0]
        pending = db.execute("SELECT COUNT(*) FROM files WHERE state IN ('hashed', 'storing')").fetchone()[0]
    tmp = any(p.name.endswith((".tmp", ".partial")) for p in archive_dir.rglob("*"))
    tmp = tmp or any(p.name.startswith(".tunasync-") for p in mirror.rglob("*"))
    step = bool(journal or packing or tmp)
    return step, step or bool(open_ or pending)


async def check_invariant(index_path: Path, mirror: Path, expected: dict[str, str], devnet_url: str,
                          scratch: Path) -> list[str]:
    """The files that are neither on disk with their bytes nor retrievable and verified (should be [])."""
    from tunasync.content.cid import CID
    from tunasync.filecoin.network import open_devnet

    lost = []
    with sqlite3.connect(index_path) as db:
        cids = dict(db.execute("SELECT path, cid FROM files"))
    net = await open_devnet(devnet_url)
    try:
        for rel, digest in expected.items():
            p = mirror / rel
            if p.exists():
                if hashlib.sha256(p.read_bytes()).hexdigest() != digest:
                    lost.append(f"{rel}: changed on disk")
                continue
            cid = cids.get(rel)
            if not cid:
                lost.append(f"{rel}: off disk with no CID")
                continue
            try:
                got = await net.retriever.fetch(CID.decode(cid), scratch / "check")
                ok = hashlib.sha256(got.path.read_bytes()).hexdigest() == digest
                got.path.unlink()
            except Exception as exc:
                lost.append(f"{rel}: off disk and not retrievable: {exc}")
                continue
            if not ok:
                lost.append(f"{rel}: retrieved bytes differ")
    finally:
        await net.close()
    return lost


def timed(argv: list[str]) -> float:
    t = time.monotonic()
    subprocess.run(argv, capture_output=True, check=False)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    rng = random.Random(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-archive-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    mirror = work / "mirror"
    mirror.mkdir(exist_ok=True)
    devnet, info = start_devnet(work)
    expected: dict[str, str] = {}
    conf = write_conf(work, info["url"], mirror)
    index_path = work / "archive" / "stress" / "index.sqlite"
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    store = cli("archive", "store", "-c", str(conf), "stress", "--wait", "30", "--poll", "0.2")
    evict = cli("archive", "evict", "-c", str(conf), "stress")
    kills = interrupted = in_flight = lost_total = cycle = 0
    t0 = time.monotonic()
    try:
        startup = min(timed(cli("archive", "status", "-c", str(conf))) for _ in range(3))
        add_files(mirror, rng, cycle, expected)
        durations = {"store": timed(store), "evict": timed(evict)}
        print(f"start-up {startup:.2f} s; full store {durations['store']:.2f} s, evict {durations['evict']:.2f} s")
        while kills < args.kills:
            cycle += 1
            add_files(mirror, rng, cycle, expected)
            for name, argv in (("store", store), ("evict", evict)):
                if kills >= args.kills:
                    break
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                delay = rng.uniform(startup * 0.9, max(startup, durations[name]) * 1.1)
                try:
                    proc.wait(delay)
                    continue  # it finished before the kill: no kill point
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                kills += 1
                if index_path.exists():
                    step, flight = half_done(index_path, mirror, work / "archive")
                    interrupted += step
                    in_flight += flight
                lost = asyncio.run(check_invariant(index_path, mirror, expected, info["url"], scratch))
                lost_total += len(lost)
                for line in lost:
                    print(f"LOST after kill {kills} ({name}): {line}")
                if kills % 20 == 0:
                    print(f"{kills} kills, {interrupted} mid-step, {in_flight} with work in flight, "
                          f"{len(expected)} files, lost so far {lost_total}, "
                          f"{time.monotonic() - t0:.0f} s", flush=True)
        # the end: one clean run must finish everything
        subprocess.run(store, capture_output=True, check=True)
        subprocess.run(evict, capture_output=True, check=True)
        lost = asyncio.run(check_invariant(index_path, mirror, expected, info["url"], scratch))
        lost_total += len(lost)
        with sqlite3.connect(index_path) as db:
            journal = db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
            evicted = db.execute("SELECT COUNT(*) FROM files WHERE state = 'evicted'").fetchone()[0]
            due = db.execute("SELECT COUNT(*) FROM files WHERE state != 'evicted' AND size > 0 AND "
                             "mtime_ns < ?", (int((time.time() - YEAR) * 1e9),)).fetchone()[0]
        leftovers = not half_done(index_path, mirror, work / "archive")[1]
        # evicted files move into the shadow tree and are emptied there: a kill in between leaves one
        # with its bytes, which recovery empties (every placeholder sparse, one per evicted file)
        shadow = [p for p in (index_path.parent / "evicted").rglob("*") if p.is_file()]
        holding = sum(1 for p in shadow if p.stat().st_blocks)
    finally:
        devnet.terminate()
        devnet.wait(30)
    print(f"kills: {kills} real SIGKILLs of store/evict; {in_flight} interrupted work in flight (deals under way, "
          f"files hashed not stored, ...), {interrupted} of them in the middle of a journaled step")
    print(f"files: {len(expected)}; evicted at the end: {evicted}; old files still on disk: {due}; "
          f"open journal entries: {journal}; clean: {leftovers}; placeholders {len(shadow)}, holding data {holding}")
    print(f"files lost: {lost_total} (goal 0) in {time.monotonic() - t0:.0f} s")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if lost_total or journal or due or holding or len(shadow) != evicted else 0)


if __name__ == "__main__":
    main()
