"""Benchmark: 1,000 runs of `command = "true"` mirrors through the full worker job path.

A real `tunasync manager` (SQLite, subprocess) and a real `tunasync worker` (subprocess,
`concurrent = 10`) with N mirrors running `true`; every mirror gets its hooks (log limiter: log file,
`latest` link), its status posts (pre-syncing, syncing, success) and the schedules posts to the
manager. The manager already holds a recent `success` for each mirror, so nothing is due at start-up:
every run is started by a `start` command to the worker's control server (not the 5 s tick).
Measured: wall time from the first command to the last `success` stored by the manager.

Reference, same run: spawning `true` the same number of times from this Python, 10 at a time.
Printed: extra ms per job = (worker time - reference time) / runs, and the worker's peak RSS.
Goals (issue 2): < 5 ms extra per job; worker RSS < 100 MB.

Run: .venv/bin/python bench/worker.py [--mirrors 1000] [--rounds 1] [--concurrent 10]
"""

# ruff: noqa: ASYNC220, ASYNC221, ASYNC230  (set-up and tear-down of the benchmark, not the measured path)
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def reference(runs: int, concurrent: int) -> float:
    sem = asyncio.Semaphore(concurrent)

    async def one() -> None:
        async with sem:
            p = await asyncio.create_subprocess_exec("true", stdin=subprocess.DEVNULL,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await p.wait()

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    return time.perf_counter() - t0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for children."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0])
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


async def wait_http(url: str, http: aiohttp.ClientSession, proc: subprocess.Popen, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            async with http.get(url) as r:
                if r.status < 500:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


async def main(args: argparse.Namespace) -> None:
    names = [f"m{i:04d}" for i in range(args.mirrors)]
    runs = args.mirrors * args.rounds
    d = tempfile.mkdtemp(prefix="tunasync-bench-worker-")
    jobs_dir = tempfile.mkdtemp(prefix="tunasync-bench-jobs-", dir=args.jobs_dir or d)
    mport, wport = free_port(), free_port()
    with open(f"{d}/manager.conf", "w") as f:
        f.write(f'[server]\naddr = "127.0.0.1"\nport = {mport}\n[files]\ndb_type = "sqlite"\n'
                f'db_file = "{d}/m.sqlite"\nstatus_file = ""\n')
    with open(f"{d}/worker.conf", "w") as f:
        f.write(f'[global]\nname = "bench"\nlog_dir = "{jobs_dir}/log/{{{{.Name}}}}"\nmirror_dir = "{jobs_dir}/data"\n'
                f"concurrent = {args.concurrent}\ninterval = 600\n"
                f'[manager]\napi_base = "http://127.0.0.1:{mport}"\n'
                f'[server]\nhostname = "127.0.0.1"\nlisten_addr = "127.0.0.1"\nlisten_port = {wport}\n')
        for n in names:
            f.write(f'[[mirrors]]\nname = "{n}"\nprovider = "command"\nupstream = "x"\ncommand = "true"\n')
    base = f"http://127.0.0.1:{mport}"
    out = open(f"{d}/out.log", "wb")
    manager = subprocess.Popen([PY, "-m", "tunasync.cli.main", "manager", "-c", f"{d}/manager.conf"],
                               stdout=out, stderr=out)
    worker = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await wait_http(f"{base}/ping", http, manager)
            # The manager knows every mirror as freshly synced: nothing is due when the worker starts.
            async with http.post(f"{base}/workers", json={"id": "bench", "url": f"http://127.0.0.1:{wport}/"}):
                pass
            for n in names:
                async with http.post(f"{base}/workers/bench/jobs/{n}",
                                     json={"name": n, "worker": "bench", "status": "success", "upstream": "x"}):
                    pass
            worker = subprocess.Popen([PY, "-m", "tunasync.cli.main", "worker", "-c", f"{d}/worker.conf"]
                                      + (["--prof-path", args.profile] if args.profile else []),
                                      stdout=out, stderr=out)
            await wait_http(f"http://127.0.0.1:{wport}/logs/none", http, worker)
            await asyncio.sleep(1.0)  # registration, initial fetch and schedules post are done
            idle_rss, _ = rss_kb(worker.pid)

            async def last_started_count() -> int:
                async with http.get(f"{base}/workers/bench/jobs") as r:
                    recs = await r.json()
                return sum(1 for x in recs if x["status"] == "success" and x["last_started"] > t_mark)

            sem = asyncio.Semaphore(50)

            async def start(n: str) -> None:
                async with sem, http.post(f"http://127.0.0.1:{wport}/", json={"cmd": "start", "mirror_id": n}) as r:
                    assert r.status == 200, await r.text()

            total = 0.0
            for _ in range(args.rounds):
                async with http.get(f"{base}/ping"):
                    pass
                t_mark = time.strftime("%Y-%m-%dT%H:%M:%S")  # records started after this instant
                await asyncio.sleep(1.05)
                t0 = time.perf_counter()
                c0 = cpu_s(worker.pid), cpu_s(manager.pid)
                await asyncio.gather(*(start(n) for n in names))
                while await last_started_count() < len(names):
                    if worker.poll() is not None:
                        raise SystemExit("the worker died")
                    await asyncio.sleep(0.2)
                total += time.perf_counter() - t0
                wcpu, mcpu = cpu_s(worker.pid) - c0[0], cpu_s(manager.pid) - c0[1]
            rss, hwm = rss_kb(worker.pid)
            ref = await reference(runs, args.concurrent)
            extra_ms = (total - ref) / runs * 1000
            print(f"runs                 {runs} ({args.mirrors} mirrors x {args.rounds}), concurrent = {args.concurrent}")
            print(f"worker full path     {total:.2f} s  ({total / runs * 1000:.2f} ms/job wall)")
            print(f"reference spawn      {ref:.2f} s  ({ref / runs * 1000:.2f} ms/job wall)")
            print(f"CPU during the run   worker {wcpu:.2f} s (jobs included), manager {mcpu:.2f} s")
            print(f"ratio                {total / ref:.2f}x the reference")
            print(f"extra per job        {extra_ms:.2f} ms   (goal < 5 ms)  {'OK' if extra_ms < 5 else 'MISSED'}")
            print(f"worker RSS           {rss / 1024:.1f} MB now, {hwm / 1024:.1f} MB peak, {idle_rss / 1024:.1f} MB idle"
                  f"   (goal < 100 MB)  {'OK' if hwm < 100 * 1024 else 'MISSED'}")
    finally:
        for p in (worker, manager):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        out.close()
        if not args.keep:
            subprocess.run(["rm", "-rf", d, jobs_dir])
        else:
            print(f"kept {d}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirrors", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--concurrent", type=int, default=10)
    ap.add_argument("--profile", default="", help="directory for the worker's cProfile dump")
    ap.add_argument("--jobs-dir", default="", help="where mirror and log dirs go (default: the temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    asyncio.run(main(ap.parse_args()))
    os._exit(0)
