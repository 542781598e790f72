"""Benchmark: status updates into the SQLite manager vs a bare aiohttp JSON echo, then `GET /jobs`.

100 simulated workers × 50 mirrors post status updates over loopback (each worker one keep-alive
session, its mirrors' messages in sequence: pre-syncing, syncing, success, as a worker sends them;
the 100 workers run concurrently). The manager runs as a real subprocess (`tunasync manager` on a
fresh SQLite file, fsync'd commits); the reference is a subprocess running a bare aiohttp handler
that parses the same JSON and returns it. Then `GET /jobs` with the 5,000 records: p50/p99.

Goals (issue 2): updates/s ≥ 0.5× the reference; `GET /jobs` p99 < 50 ms.
Run: .venv/bin/python bench/manager.py [--workers 100] [--mirrors 50] [--rounds 1]
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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--mirrors", type=int, default=50)
    ap.add_argument("--jobs-requests", type=int, default=300)
    ap.add_argument("--db", default="", help="SQLite file (default: a fresh temp file)")
    ap.add_argument("--profile", default="", help="run the manager under cProfile, writing stats here")
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()

    ref_rate = float("nan")
    if not args.skip_reference:
        port = free_port()
        ref = start([sys.executable, __file__, "--reference-server", str(port)])
        try:
            await wait_up(f"http://127.0.0.1:{port}", ref)
            c0 = cpu_seconds(ref.pid)
            n, secs = await run_updates(f"http://127.0.0.1:{port}", args.workers, args.mirrors)
            ref_cpu = (cpu_seconds(ref.pid) - c0) / n * 1e6
        finally:
            stop(ref)
        ref_rate = n / secs
        print(f"reference (bare aiohttp JSON echo): {n} updates in {secs:.2f} s = {ref_rate:,.0f} updates/s"
              f" ({ref_cpu:.0f} us server CPU per update)")

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
            mgr_cpu = (cpu_seconds(mgr.pid) - c0) / n * 1e6
            rate = n / secs
            print(f"manager (sqlite, fsync'd):          {n} updates in {secs:.2f} s = {rate:,.0f} updates/s"
                  f" ({mgr_cpu:.0f} us server CPU per update)")
            print(f"ratio manager/reference: {rate / ref_rate:.2f}x (goal >= 0.5x)")
            p50, p99, size = await jobs_latency(base, args.jobs_requests)
            jobs = args.workers * args.mirrors
            print(f"GET /jobs with {jobs} jobs ({size:,} bytes): p50 {p50:.2f} ms, p99 {p99:.2f} ms (goal p99 < 50 ms)")
        finally:
            stop(mgr)
            err = mgr.stderr.read().decode() if mgr.stderr else ""
            if os.environ.get("BENCH_STDERR") or mgr.returncode not in (0, None):
                print(err, file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reference-server":
        reference_server(int(sys.argv[2]))
    else:
        asyncio.run(main())
