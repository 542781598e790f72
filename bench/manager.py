"""Benchmark: status updates into the SQLite manager vs a bare aiohttp JSON echo, then `GET /jobs`.

100 simulated workers × 50 mirrors post status updates over loopback (each worker one keep-alive
session, its mirrors' messages in sequence: pre-syncing, syncing, success, as a worker sends them;
the 100 workers run concurrently). The manager runs as a real subprocess (`tunasync manager` on a
fresh SQLite file, fsync'd commits); the reference is a subprocess running a bare aiohttp handler
that parses the same JSON and returns it. Then `GET /jobs` with the 5,000 records: p50/p99.

Goals (issue 2): updates/s ≥ 0.5× the reference; `GET /jobs` p99 < 50 ms.
Run: .venv/bin/python bench/manager.py [--workers 100] [--mirrors 50] [--rounds 3]
The machine may be shared: rounds alternate reference and manager, and the median ratio is the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reference_server(port: int) -> None:
    """The reference: parse the posted JSON, send it back (what any JSON API does at minimum)."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"message": "pong"})

    app = web.Application()
    app.router.add_post("/workers", handle)
    app.router.add_post("/workers/{id}/jobs/{job}", handle)
    app.router.add_get("/ping", ok)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def wait_up(base: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            try:
                async with s.get(base + "/ping") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("server did not come up")


def body(worker: str, mirror: str, status: str) -> bytes:
    import json

    return json.dumps({
        "name": mirror, "worker": worker, "is_master": True, "status": status,
        "last_update": "0001-01-01T00:00:00Z", "last_started": "0001-01-01T00:00:00Z",
        "last_ended": "0001-01-01T00:00:00Z", "next_schedule": "0001-01-01T00:00:00Z",
        "upstream": f"rsync://upstream.example.org/{mirror}/", "size": "unknown", "error_msg": "",
    }).encode() + b"\n"


async def run_updates(base: str, workers: int, mirrors: int) -> tuple[int, float]:
    """All workers register, then post their mirrors' updates; returns (updates, seconds)."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    sessions = [aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) for _ in range(workers)]
    try:
        for i, s in enumerate(sessions):
            async with s.post(base + "/workers", data=(f'{{"id":"w{i}","url":"http://127.0.0.1:9/"}}').encode(),
                              headers=headers) as r:
                assert r.status == 200, await r.text()
        bodies = [[[body(f"w{i}", f"m{j}", st) for st in ("pre-syncing", "syncing", "success")]
                   for j in range(mirrors)] for i in range(workers)]

        async def worker(i: int) -> int:
            s, n = sessions[i], 0
            for j in range(mirrors):
                for b in bodies[i][j]:
                    async with s.post(f"{base}/workers/w{i}/jobs/m{j}", data=b, headers=headers) as r:
                        await r.read()
                        assert r.status == 200, r.status
                    n += 1
            return n

        t0 = time.perf_counter()
        counts = await asyncio.gather(*(worker(i) for i in range(workers)))
        return sum(counts), time.perf_counter() - t0
    finally:
        for s in sessions:
            await s.close()


async def jobs_latency(base: str, n: int) -> tuple[float, float, int]:
    lat = []
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/jobs") as r:
            size = len(await r.read())
        for _ in range(n):
            t0 = time.perf_counter()
            async with s.get(base + "/jobs") as r:
                await r.read()
            lat.append(time.perf_counter() - t0)
    lat.sort()
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000, size


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def bench_reference(args: argparse.Namespace) -> tuple[float, float]:
    """(updates/s, server CPU µs per update) of the bare aiohttp echo."""
    port = free_port()
    ref = start([sys.executable, __file__, "--reference-server", str(port)])
    try:
        await wait_up(f"http://127.0.0.1:{port}", ref)
        c0 = cpu_seconds(ref.pid)
        n, secs = await run_updates(f"http://127.0.0.1:{port}", args.workers, args.mirrors)
        return n / secs, (cpu_seconds(ref.pid) - c0) / n * 1e6
    finally:
        stop(ref)


async def bench_manager(args: argparse.Namespace, with_jobs: bool) -> tuple[float, float, tuple[float, float, int] | None]:
    """(updates/s, server CPU µs per update, /jobs figures) of `tunasync manager` on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or os.path.join(tmp, "tunasync.db")
        port = free_port()
        prof = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        mgr = start([sys.executable, *prof, "-m", "tunasync.cli.main", "manager", "--db-file", db, "--port", str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_up(base, mgr)
            c0 = cpu_seconds(mgr.pid)
            n, secs = await run_updates(base, args.workers, args.mirrors)
            cpu = (cpu_seconds(mgr.pid) - c0) / n * 1e6
            jobs = await jobs_latency(base, args.jobs_requests) if with_jobs else None
            return n / secs, cpu, jobs
        finally:
            stop(mgr)
            err = mgr.stderr.read().decode() if mgr.stderr else ""
            if os.environ.get("BENCH_STDERR") or mgr.returncode not in (0, None):
                print(err, file=sys.stderr)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--mirrors", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="reference and manager alternate this many times")
    ap.add_argument("--jobs-requests", type=int, default=300)
    ap.add_argument("--db", default="", help="SQLite file (default: a fresh temp file)")
    ap.add_argument("--profile", default="", help="run the manager under cProfile, writing stats here")
    args = ap.parse_args()
    n = args.workers * args.mirrors * 3
    print(f"{args.workers} workers x {args.mirrors} mirrors, {n} status updates per run, {args.rounds} rounds"
          f" (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    ratios = []
    jobs = None
    for r in range(args.rounds):
        ref_rate, ref_cpu = await bench_reference(args)
        rate, cpu, j = await bench_manager(args, with_jobs=(r == args.rounds - 1))
        jobs = j or jobs
        ratios.append(rate / ref_rate)
        print(f"round {r + 1}: reference {ref_rate:,.0f} updates/s ({ref_cpu:.0f} us server CPU each),"
              f" manager {rate:,.0f} updates/s ({cpu:.0f} us server CPU each), ratio {rate / ref_rate:.2f}x")
    print(f"ratio manager/reference: median {statistics.median(ratios):.2f}x,"
          f" range {min(ratios):.2f}-{max(ratios):.2f} (goal >= 0.5x)")
    if jobs:
        p50, p99, size = jobs
        print(f"GET /jobs with {args.workers * args.mirrors} jobs ({size:,} bytes): p50 {p50:.2f} ms,"
              f" p99 {p99:.2f} ms (goal p99 < 50 ms)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reference-server":
        reference_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
