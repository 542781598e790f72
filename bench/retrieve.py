"""Benchmark: verified retrieval of a 1 GiB file from the devnet vs a plain download of the same CAR bytes.

    .venv/bin/python bench/retrieve.py [--size BYTES] [--workdir DIR]

One run: make a seeded random file, its CAR (profile ipfs-car) and piece CID; start `tunasync devnet` as a
subprocess; store the CAR at one provider; then, each in a fresh client process (so its peak RSS is its
own): (1) the reference, a plain HTTP GET of the CAR from the provider's `/piece/` endpoint written to
disk; (2) `VerifiedRetriever.fetch` of the file CID through the same provider's `/ipfs/` endpoint,
every block verified (DfsVerifier) and written via `.partial` + fsync + rename. Prints both
throughputs, the ratio (goal ≥ 0.8) and the client peak RSS (goal < 150 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

GIB = 1 << 30


def make_input(path: Path, size: int) -> None:
    """Seeded pseudo-random bytes: no two 1 MiB chunks alike, so the CAR holds every block (a repeating
    pattern would dedupe to a CAR far smaller than the file and make the comparison meaningless)."""
    import random

    rng = random.Random(20261125)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(rng.randbytes(n))
            left -= n


async def child_plain(url: str, out: str) -> dict:
    import aiohttp

    started = time.perf_counter()
    n = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as s:
        async with s.get(url) as resp:
            resp.raise_for_status()
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                async for chunk in resp.content.iter_chunked(1 << 20):
                    os.write(fd, chunk)
                    n += len(chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
    return {"bytes": n, "seconds": time.perf_counter() - started}


async def child_verified(base: str, cid: str, out: str) -> dict:
    from tunasync.content.cid import CID
    from tunasync.filecoin.http import Http
    from tunasync.filecoin.interfaces import Candidate
    from tunasync.filecoin.retriever import VerifiedRetriever

    r = VerifiedRetriever(http=Http())
    started = time.perf_counter()
    try:
        res = await r.fetch(CID.decode(cid), Path(out), candidates=[Candidate(base)])
    finally:
        await r.close()
    return {"bytes": res.size, "seconds": time.perf_counter() - started, "source": res.source}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=GIB)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a new directory in /dev/shm if present "
                    "(the figures are about network + verification, not this machine's disk)")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        result = asyncio.run(child_plain(*rest) if kind == "plain" else child_verified(*rest))
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    from tunasync.content.car import write_file_car
    from tunasync.content.piece import piece_of_file

    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-retrieve-", dir=shm))
    work.mkdir(parents=True, exist_ok=True)
    src, car = work / "file.bin", work / "file.car"
    t = time.perf_counter()
    make_input(src, args.size)
    info = write_file_car(str(src), str(car))
    piece = piece_of_file(str(car))
    print(f"prepared {args.size} B file, CAR {info.size} B, root {info.root}, piece {piece.v1} "
          f"({time.perf_counter() - t:.1f} s)")

    ready = work / "ready.json"
    ready.unlink(missing_ok=True)
    devnet = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "devnet", "--data", str(work / "devnet"),
                               "--port", "0", "--provider-port", "0", "--providers", "1", "--epoch-seconds", "1",
                               # boost: its /piece/ is the bare CAR (a curio one adds zeros), the reference
                               "--provider-kind", "boost", "--ready-file", str(ready)], stdout=subprocess.DEVNULL)
    try:
        while not ready.exists():
            if devnet.poll() is not None:
                sys.exit("devnet exited")
            time.sleep(0.05)
        dn = json.loads(ready.read_text())
        body = json.dumps({"car_path": str(car), "providers": [dn["providers"][0]["actor"]],
                           "piece_cid": str(piece.v1), "padded_size": piece.padded_size}).encode()
        t = time.perf_counter()
        req = urllib.request.Request(dn["url"] + "/admin/seed", data=body, method="POST")
        urllib.request.urlopen(req, timeout=600).read()
        print(f"stored at {dn['providers'][0]['actor']} ({time.perf_counter() - t:.1f} s)")
        base = dn["providers"][0]["url"]

        load_before = os.getloadavg()[0]
        plains, verifieds = [], []
        for _ in range(args.trials):  # alternate, so background load hits both alike
            plains.append(run_child("plain", f"{base}/piece/{piece.v1}", str(work / "plain.car")))
            (work / "plain.car").unlink()
            verifieds.append(run_child("verified", base, str(info.root), str(work / "out.bin")))
        ok = sha256_file(work / "out.bin") == sha256_file(src)
        with open(f"/proc/{devnet.pid}/status") as f:
            dn_rss = next((int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM")), 0.0)
    finally:
        devnet.terminate()
        devnet.wait(30)
    def rates(runs: list[dict]) -> list[float]:
        return sorted(r["bytes"] / r["seconds"] / 1e6 for r in runs)

    p_r, v_r = rates(plains), rates(verifieds)
    p_best, v_best = p_r[-1], v_r[-1]
    p_med, v_med = p_r[len(p_r) // 2], v_r[len(v_r) // 2]
    v_rss = max(r["max_rss_mb"] for r in verifieds)
    print(f"plain download of the CAR ({plains[0]['bytes']} B): best {p_best:.0f} MB/s, median {p_med:.0f} MB/s, "
          f"client peak RSS {max(r['max_rss_mb'] for r in plains):.0f} MB")
    print(f"verified retrieval ({verifieds[0]['bytes']} B): best {v_best:.0f} MB/s, median {v_med:.0f} MB/s, "
          f"client peak RSS {v_rss:.0f} MB, output identical: {ok}")
    print(f"devnet peak RSS {dn_rss:.0f} MB; {args.trials} alternating trials each; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores")
    print(f"ratio verified/plain = {v_best / p_best:.2f} best-to-best, {v_med / p_med:.2f} median-to-median "
          f"(goal >= 0.80); RSS goal < 150 MB: {'ok' if v_rss < 150 else 'MISSED'}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
