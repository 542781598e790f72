#!/usr/bin/env python3
"""Archive scan and first index against their references, measured in the same run on this machine.

1. Rescan of a tree of small files where nothing changed, against `find DIR -printf '%s %T@\\n'`
   (warm caches: find runs once first, then find and our rescan alternate; median ratio). Goal <= 1.5x.
   The tree is built once and kept (marker file) with its index; building is not measured.
2. First full index (scan + hash_pending: CIDs recorded in the SQLite index) of GIB GiB in mixed file
   sizes, against raw single-thread SHA-256 (hashlib, 1 MiB chunks) over the same files, run before
   and after ours; the faster reference counts. Goal: throughput >= 0.6x. The data is deleted after.

usage: .venv/bin/python bench/archive.py [--files 1000000] [--gib 10] [--rounds 5] [--dir DIR]
                                         [--skip-rescan] [--skip-index] [--keep] [--clean] [--fallback]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tunasync.archive import scan as scanmod
from tunasync.archive.hashing import hash_pending
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import NO_NATIVE_ENV, scan
from tunasync.content.chunker import hash_threads

GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10
# (kind, share of the bytes, smallest, largest): mostly small files by count, most bytes in big ones
MIX = [("small", 0.25, 1 * KiB, 64 * KiB), ("medium", 0.35, 1 * MiB, 8 * MiB), ("large", 0.40, 100 * MiB, 400 * MiB)]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fs_type(path: Path) -> str:
    out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "--target", str(path)], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def fresh_index(path: Path) -> ArchiveIndex:
    for p in path.parent.glob(path.name + "*"):
        p.unlink()
    return ArchiveIndex(path)


# -- 1. rescan ---------------------------------------------------------------------------------------
def build_tree(root: Path, files: int) -> float:
    """`files` small files, 1000 per directory, in a two-level pool like a distribution mirror's."""
    t0 = time.perf_counter()
    rnd = random.Random(1)
    blob = os.urandom(4096)
    for i in range(files):
        if i % 1000 == 0:
            d = root / "pool" / f"{i // 100_000:02d}" / f"lib{(i // 1000) % 100:02d}-{i // 1000}"
            d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / f"package-{i:07d}_1.{i % 97}-{i % 7}_amd64.deb", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, blob[: rnd.randint(1, 2048)])
        os.close(fd)
    return time.perf_counter() - t0


def run_find(root: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["find", str(root), "-printf", "%s %T@\\n"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def rescan_once(root: Path, ix_path: Path) -> tuple[float, scanmod.ScanResult]:
    t0 = time.perf_counter()
    res = scan(str(root), ArchiveIndex(ix_path))  # opening the index is part of a rescan
    return time.perf_counter() - t0, res


def bench_rescan(base: Path, files: int, rounds: int, fallback: bool) -> float:
    root, ix_path = base / f"tree-{files}", base / f"tree-{files}.index" / "index.sqlite"
    marker = base / f"tree-{files}.complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        made = build_tree(root, files)
        os.sync()
        marker.write_text(f"{made:.1f}\n")
        how = f"created in {made:.1f} s"
    else:
        how = f"reused (created earlier in {float(marker.read_text()):.1f} s)"
    print(f"[rescan] tree: {files:,} small files (1-2048 B), 1,000 per directory, in {root} ({fs_type(root)}); "
          f"{how}; not measured")
    if not ix_path.exists():
        t0 = time.perf_counter()
        first = scan(str(root), fresh_index(ix_path))
        print(f"[rescan] first scan (builds the index and the snapshot, not a goal): {time.perf_counter() - t0:.1f} s, "
              f"{len(first.changed):,} files recorded")
    run_find(root)  # warm the caches for both
    rescan_once(root, ix_path)
    ratios = []
    for i in range(rounds):
        tf = run_find(root)
        ts, res = rescan_once(root, ix_path)
        if res.changed or res.deleted or res.errors or res.files != files:
            sys.exit(f"rescan of an unchanged tree found changes: {res.files} files, {len(res.changed)} changed, "
                     f"{len(res.deleted)} deleted, errors {res.errors[:3]}")
        ratios.append(ts / tf)
        print(f"[rescan] round {i + 1}: find {tf:.3f} s, rescan {ts:.3f} s, ratio {ts / tf:.2f}  (load {load()})")
    ratio = statistics.median(ratios)
    touched = sorted(str(root / p) for p, *_ in list(scanmod.walk(str(root)))[::1000])
    for p in touched:
        os.utime(p)
    ts, res = rescan_once(root, ix_path)
    print(f"[rescan] with {len(touched):,} files touched (not a goal): {ts:.3f} s, {len(res.changed):,} changed")
    if fallback:
        os.environ[NO_NATIVE_ENV] = "1"
        ts, _ = rescan_once(root, ix_path)
        del os.environ[NO_NATIVE_ENV]
        print(f"[rescan] pure-Python fallback (full comparison, {NO_NATIVE_ENV}=1; not a goal): {ts:.3f} s")
    verdict = "PASS" if ratio <= 1.5 else "MISS"
    print(f"[rescan] median ratio rescan/find over {rounds} rounds: {ratio:.2f} (goal <= 1.5): {verdict}")
    return ratio


# -- 2. first index ----------------------------------------------------------------------------------
def build_mixed(root: Path, total: int) -> tuple[dict[str, tuple[int, int]], float]:
    t0 = time.perf_counter()
    rnd = random.Random(2)
    blob = os.urandom(64 * MiB)
    counts: dict[str, tuple[int, int]] = {}
    for kind, share, lo, hi in MIX:
        budget, n, nbytes = int(total * share), 0, 0
        while nbytes < budget:
            size = min(rnd.randint(lo, hi), budget - nbytes) if kind == "large" else rnd.randint(lo, hi)
            d = root / kind / f"{n // 1000:03d}"
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"{kind}-{n:06d}.bin", "wb") as f:
                left, off = size, rnd.randrange(0, len(blob) - MiB)
                while left:
                    k = min(left, len(blob) - off)
                    f.write(blob[off:off + k])
                    left, off = left - k, 0
            n, nbytes = n + 1, nbytes + size
        counts[kind] = (n, nbytes)
    os.sync()
    return counts, time.perf_counter() - t0


def raw_sha256(paths: list[str]) -> tuple[float, int]:
    buf = bytearray(MiB)
    mv = memoryview(buf)
    total = 0
    t0 = time.perf_counter()
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(mv[:n])
                total += n
        h.digest()
    return time.perf_counter() - t0, total


def bench_index(base: Path, gib: float, keep: bool) -> float:
    root, ix_path = base / "mixed", base / "mixed.index" / "index.sqlite"
    shutil.rmtree(root, ignore_errors=True)
    counts, made = build_mixed(root, int(gib * GiB))
    total = sum(b for _, b in counts.values())
    mix = ", ".join(f"{n:,} {kind} ({lo // KiB if lo < MiB else lo // MiB}-{hi // KiB if hi < MiB else hi // MiB} "
                    f"{'KiB' if hi < MiB else 'MiB'}, {b / GiB:.2f} GiB)"
                    for (kind, _s, lo, hi), (n, b) in zip(MIX, counts.values(), strict=True))
    files = sum(n for n, _ in counts.values())
    print(f"[index] data: {total / GiB:.2f} GiB in {files:,} files: {mix}; in {root} ({fs_type(root)}); "
          f"created in {made:.1f} s, not measured")
    paths = sorted(str(p) for p in root.rglob("*.bin"))
    try:
        t_ref1, n = raw_sha256(paths)
        assert n == total
        print(f"[index] reference before: raw SHA-256, 1 thread, 1 MiB chunks: {t_ref1:.2f} s "
              f"({total / t_ref1 / GiB:.2f} GiB/s)  (load {load()})")
        ix = fresh_index(ix_path)
        c0, t0 = cpu(), time.perf_counter()
        sres = scan(str(root), ix)
        t_scan = time.perf_counter() - t0
        hres = hash_pending(ix, str(root), "ipfs-car")
        t_index, c_index = time.perf_counter() - t0, cpu() - c0
        if hres.hashed != files or hres.errors or hres.changed or len(sres.changed) != files:
            sys.exit(f"index incomplete: {hres.hashed} hashed of {files}, errors {hres.errors[:3]}")
        print(f"[index] ours: scan {t_scan:.2f} s + hash_pending {t_index - t_scan:.2f} s = {t_index:.2f} s "
              f"({total / t_index / GiB:.2f} GiB/s; {c_index:.1f} CPU s on {hash_threads()} hashing threads, "
              f"profile ipfs-car)  (load {load()})")
        t_ref2, _ = raw_sha256(paths)
        print(f"[index] reference after: {t_ref2:.2f} s ({total / t_ref2 / GiB:.2f} GiB/s)  (load {load()})")
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(ix_path.parent, ignore_errors=True)
    ratio = min(t_ref1, t_ref2) / t_index
    verdict = "PASS" if ratio >= 0.6 else "MISS"
    print(f"[index] throughput ratio ours/raw SHA-256 (faster reference): {ratio:.2f} (goal >= 0.6): {verdict}")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1_000_000, help="files in the rescan tree")
    ap.add_argument("--gib", type=float, default=10.0, help="GiB of mixed files to index")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/var/tmp")) / "tunasync-bench",
                    help="where the data goes (default on disk, so the page cache, not tmpfs, holds it)")
    ap.add_argument("--skip-rescan", action="store_true")
    ap.add_argument("--skip-index", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the mixed data set")
    ap.add_argument("--clean", action="store_true", help="remove everything under --dir and exit")
    ap.add_argument("--fallback", action="store_true", help="also time the pure-Python full rescan")
    args = ap.parse_args()
    if args.clean:
        shutil.rmtree(args.dir, ignore_errors=True)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"tunasync bench/archive.py: {os.cpu_count()} CPUs, load {load()}, Python {sys.version.split()[0]}, "
          f"native walker {'built' if scanmod._native_walk is not None else 'NOT built (pure-Python fallback)'}")
    if not args.skip_rescan:
        bench_rescan(args.dir, args.files, args.rounds, args.fallback)
    if not args.skip_index:
        bench_index(args.dir, args.gib, args.keep)


if __name__ == "__main__":
    main()
