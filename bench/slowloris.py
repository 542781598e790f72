"""Benchmark `tunasync serve` under a slowloris attack; prints a normal client's figures with and without it.

    .venv/bin/python bench/slowloris.py [--connections 20000] [--attackers 2] [--seconds 30]
                                        [--file-size 65536] [--serve-arg=--max-connections=4096 ...]
                                        [--serve-nofile N] [--src DIR]   (another checkout's src/)

`tunasync serve --root DIR` runs as a subprocess with its default limits (plus any --serve-arg). A
normal client (fresh connection per request, 10 s per request at most) fetches one file over and over:

  1. reference: the client alone for --seconds;
  2. attack: --attackers processes hold --connections half-sent requests between them (each sends part
     of a request head, then a header line every 10 s, never the blank line; one the server closes is
     opened again at once) for --seconds while the client fetches as in 1.

Printed: the client's success rate and p50/p99 latency in both phases and their ratio (attack /
reference), what the attackers managed (connections opened, closed by the server), serve's open
descriptors at the end of the attack and how much its log grew. Every connection goes to 127.0.0.1;
the attackers stop by themselves after --seconds; the temporary directory and serve are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
HEAD = b"GET /file.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris-bench\r\n"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the attacker (a child process) -----------------------------------------------------------------
async def attack(port: int, n: int, seconds: float) -> dict[str, int]:
    stats = {"opened": 0, "failed": 0, "closed_by_server": 0, "peak_open": 0}
    open_now = 0
    stop_at = time.monotonic() + seconds
    connecting = asyncio.Semaphore(256)

    async def one() -> None:
        nonlocal open_now
        while time.monotonic() < stop_at:
            try:
                async with connecting:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
                writer.write(HEAD)
            except (OSError, TimeoutError):
                stats["failed"] += 1
                await asyncio.sleep(0.5)
                continue
            stats["opened"] += 1
            open_now += 1
            stats["peak_open"] = max(stats["peak_open"], open_now)
            try:
                while time.monotonic() < stop_at:
                    try:
                        data = await asyncio.wait_for(reader.read(4096), min(10, max(0.1, stop_at - time.monotonic())))
                    except TimeoutError:
                        writer.write(b"X-a: b\r\n")  # one more header line, never the end of the head
                        continue
                    if not data:
                        stats["closed_by_server"] += 1
                        break
            except OSError:
                stats["closed_by_server"] += 1
            finally:
                open_now -= 1
                writer.transport.abort()

    await asyncio.gather(*(one() for _ in range(n)))
    return stats


def attacker_main(port: int, n: int, seconds: float) -> None:
    raise_nofile()
    print(json.dumps(asyncio.run(attack(port, n, seconds))), flush=True)


# -- the normal client -------------------------------------------------------------------------------
def fetch(port: int, size: int) -> bool:
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.settimeout(10)
        s.sendall(b"GET /file.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    return data.startswith(b"HTTP/1.1 200") and data.endswith(b"x" * min(size, 64)) and len(data) > size


def client_phase(port: int, size: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    ok = failed = 0
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        try:
            good = fetch(port, size)
        except OSError:
            good = False
        dt = time.monotonic() - t0
        if good:
            ok += 1
            lat.append(dt)
        else:
            failed += 1
            lat.append(max(dt, 10.0))  # a failure counts as the worst latency
            time.sleep(0.05)
        time.sleep(0.02)
    lat.sort()
    total = ok + failed

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    return {"requests": total, "ok": ok, "success": ok / total if total else 0.0, "p50": pct(0.5), "p99": pct(0.99)}


def _limit_fds(n: int):
    def apply() -> None:
        if n:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=20000)
    ap.add_argument("--attackers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--file-size", type=int, default=65536)
    ap.add_argument("--serve-arg", action="append", default=[], help="extra flag for tunasync serve")
    ap.add_argument("--serve-nofile", type=int, default=0,
                    help="run serve with this open-file limit (soft and hard); 0: inherit this process's")
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the tunasync sources serve runs from")
    ap.add_argument("--attacker", nargs=3, metavar=("PORT", "N", "SECONDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attacker:
        attacker_main(int(args.attacker[0]), int(args.attacker[1]), float(args.attacker[2]))
        return
    nofile = raise_nofile()
    per = -(-args.connections // args.attackers)
    if per + 64 > nofile:
        sys.exit(f"each attacker needs {per + 64} descriptors and the limit is {nofile}: use more --attackers")

    tmp = Path(tempfile.mkdtemp(prefix="slowloris-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    serve = None
    attackers: list[subprocess.Popen] = []
    try:
        root = tmp / "root"
        root.mkdir()
        (root / "file.bin").write_bytes(b"x" * args.file_size)
        log, ready = tmp / "serve.log", tmp / "ready.json"
        env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
        with open(log, "ab") as out:
            serve = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "serve", "--root", str(root),
                                      "--listen", f"{HOST}:0", "--ready-file", str(ready), *args.serve_arg],
                                     stdout=out, stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=_limit_fds(args.serve_nofile))
        deadline = time.monotonic() + 60
        while not ready.exists():
            if serve.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"serve did not start: {log.read_text()}")
            time.sleep(0.05)
        port = json.loads(ready.read_text())["port"]
        print(f"serve pid {serve.pid} on {HOST}:{port} (open-file limit {args.serve_nofile or nofile}); "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"{args.connections} attacking connections from {args.attackers} processes for {args.seconds:g} s")

        ref = client_phase(port, args.file_size, args.seconds)
        log_before = log.stat().st_size
        attackers = [subprocess.Popen([sys.executable, __file__, "--attacker", str(port), str(per), str(args.seconds)],
                                      stdout=subprocess.PIPE, text=True) for _ in range(args.attackers)]
        time.sleep(min(5.0, args.seconds / 4))  # let the attack build up first
        fds: list[int] = []
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(1.0):
                fds.append(open_fds(serve.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        hit = client_phase(port, args.file_size, max(1.0, args.seconds - min(5.0, args.seconds / 4)))
        sampler_stop.set()
        stats = []
        for a in attackers:
            out, _ = a.communicate(timeout=args.seconds + 120)
            stats.append(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})
        log_growth = log.stat().st_size - log_before
        alive = serve.poll() is None

        print(f"\n{'phase':<10} {'requests':>8} {'success':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, r in (("reference", ref), ("attack", hit)):
            print(f"{name:<10} {r['requests']:>8} {r['success']:>8.1%} {r['p50'] * 1000:>8.1f} {r['p99'] * 1000:>8.1f}")
        print(f"\nratio attack/reference: success {hit['success'] / ref['success'] if ref['success'] else 0:.3f}, "
              f"p99 latency {hit['p99'] / ref['p99']:.1f}x")
        total = {k: sum(s.get(k, 0) for s in stats) for k in ("opened", "failed", "closed_by_server", "peak_open")}
        print(f"attackers: {total['opened']} connections opened (peak {total['peak_open']} open at once), "
              f"{total['closed_by_server']} closed by serve, {total['failed']} connects failed")
        print(f"serve: {'alive' if alive else 'DEAD'}, open descriptors during the attack max {max(fds, default=-1)}, "
              f"log grew {log_growth} bytes")
        tail = log.read_bytes()[log_before:].decode(errors="replace").strip().splitlines()
        for line in tail[:5]:
            print(f"  log: {line[:200]}")
    finally:
        for a in attackers:
            if a.poll() is None:
                a.kill()
                a.wait()
        if serve is not None and serve.poll() is None:
            serve.terminate()
            try:
                serve.wait(20)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
