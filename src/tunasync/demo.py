"""`./dev demo`: a manager, a worker and one rsync mirror from a local `rsync --daemon`, on SQLite,
archived to the local Filecoin devnet.

    python -m tunasync.demo [--dir DIR] [--once] [--timeout 120]

Generates a small upstream tree (some files with mtimes three years old), serves it with `rsync
--daemon` on a free port, starts `tunasync devnet` (3 storage providers), `tunasync manager` (SQLite)
and `tunasync worker` (the mirror has `archive = true`: 2 copies, 1 year on disk) as subprocesses with
generated configs, prints the URLs and the `tunasynctl list --all` view whenever it changes, and the
archive figures as they move (hashed, stored to 2 providers, old files evicted), and `tunasync serve -c`
serves the mirror, evicted files included. Runs until Ctrl-C. With `--once` it exits 0 once the first
sync succeeded and the old files are evicted, after printing `tunasync archive status` and fetching an
evicted file through `tunasync serve` (checked byte for byte); non-zero on a failed sync, a wrong
file, or when `--timeout` seconds pass. Without
`--dir`, `--once` uses a temporary directory and a normal run uses `./demo-data`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from .models import gojson

MIRROR = "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


YEAR = 365.2425 * 86400
OLD = ["pool/main/h/hello/hello_0.8.tar.gz", "pool/main/h/hello/hello_0.9.tar.gz", "dists/oldstable/Release"]


def make_upstream(root: Path) -> int:
    """A small tree with nested dirs, a symlink, binary files and three files from three years ago
    (due for eviction); returns the number of files."""
    import random

    rng = random.Random(2026)
    files: dict[str, str | bytes] = {
        "README": "tunasync demo mirror\n",
        "dists/stable/Release": "Origin: demo\nSuite: stable\n",
        "pool/main/h/hello/hello_1.0.tar.gz": bytes(range(256)) * 64,
        "pool/main/h/hello/hello_1.0.dsc": "Source: hello\nVersion: 1.0\n",
        "docs/index.html": "<h1>demo</h1>\n",
        OLD[0]: rng.randbytes(300_000),
        OLD[1]: rng.randbytes(420_000),
        OLD[2]: "Origin: demo\nSuite: oldstable\n",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        if rel in OLD:
            t = time.time() - 3 * YEAR
            os.utime(p, (t, t))
    link = root / "latest"
    if not link.is_symlink():
        link.symlink_to("dists/stable")
    return len(files)


def write_configs(d: Path, rsync_port: int, manager_port: int, worker_port: int,
                  devnet_url: str) -> tuple[Path, Path, Path]:
    rsyncd = d / "rsyncd.conf"
    rsyncd.write_text(
        f"pid file = {d}/rsyncd.pid\nuse chroot = no\nlog file = {d}/rsyncd.log\n\n"
        f"[{MIRROR}]\n    path = {d}/upstream\n    read only = yes\n"
    )
    manager = d / "manager.conf"
    manager.write_text(
        f'[server]\naddr = "127.0.0.1"\nport = {manager_port}\n\n'
        f'[files]\ndb_type = "sqlite"\ndb_file = "{d}/manager.sqlite"\nstatus_file = "{d}/tunasync.json"\n'
    )
    worker = d / "worker.conf"
    worker.write_text(
        f'[global]\nname = "demo-worker"\nlog_dir = "{d}/log/{{{{.Name}}}}"\nmirror_dir = "{d}/mirrors"\n'
        f"concurrent = 2\ninterval = 5\nretry = 2\n\n"
        f'[manager]\napi_base = "http://127.0.0.1:{manager_port}"\n\n'
        f'[server]\nhostname = "127.0.0.1"\nlisten_addr = "127.0.0.1"\nlisten_port = {worker_port}\n\n'
        f'[archive]\nnetwork = "devnet"\ndevnet_url = "{devnet_url}"\nindex_dir = "{d}/archive"\n'
        f'copies = 2\nkeep_years = 1\nbundle_size = "1MiB"\n\n'
        f'[[mirrors]]\nname = "{MIRROR}"\nprovider = "rsync"\nupstream = "rsync://127.0.0.1:{rsync_port}/{MIRROR}/"\n'
        f"rsync_timeout = 30\narchive = true\n"
    )
    return rsyncd, manager, worker


class Demo:
    def __init__(self, d: Path, once: bool, timeout: float):
        self.d = d
        self.once = once
        self.timeout = timeout
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []
        self.serve_url = ""

    async def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None) -> None:
        log = open(self.d / f"{name}.out", "ab")  # noqa: ASYNC230 (once, at start-up)
        proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
                                                    start_new_session=True, env={**os.environ, **(env or {})})
        log.close()
        self.procs.append((name, proc))

    async def stop(self) -> None:
        for name, proc in reversed(self.procs):  # worker first: it reports its halt to the manager
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    print(f"{name} did not stop in 15 s; killing it", file=sys.stderr)
                    proc.kill()
                    await proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.returncode is not None:
                out = (self.d / f"{name}.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with status {proc.returncode}:\n{out}")

    async def run(self) -> int:
        if shutil.which("rsync") is None:
            print("rsync is not installed (apt-get install rsync)", file=sys.stderr)
            return 2
        d = self.d
        d.mkdir(parents=True, exist_ok=True)
        n_files = make_upstream(d / "upstream")
        rport, mport, wport = free_port(), free_port(), free_port()
        py = sys.executable
        devnet_url = await self.start_devnet(py)
        rsyncd, mconf, wconf = write_configs(d, rport, mport, wport, devnet_url)
        self.wconf = wconf
        await self.spawn("rsyncd", "rsync", "--daemon", "--no-detach", "--address", "127.0.0.1",
                         "--port", str(rport), "--config", str(rsyncd))
        await self.spawn("manager", py, "-m", "tunasync.cli.main", "manager", "-c", str(mconf))
        base = f"http://127.0.0.1:{mport}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            await self.wait_manager(http, base)
            # the archive's maintenance tick every 2 s (default 10 min): the demo shows evictions at once
            await self.spawn("worker", py, "-m", "tunasync.cli.main", "worker", "-c", str(wconf), "-v",
                             env={"TUNASYNC_ARCHIVE_TICK": "2"})
            self.serve_url = await self.start_serve(py, wconf)
            print(f"demo directory   {d}")
            print(f"upstream         rsync://127.0.0.1:{rport}/{MIRROR}/  ({n_files} files)")
            print(f"manager          {base}/jobs   (tunasynctl -p {mport} list --all)")
            print(f"worker control   http://127.0.0.1:{wport}/   logs: {base}/workers/demo-worker/jobs/{MIRROR}/log")
            print(f"mirror on disk   {d}/mirrors/{MIRROR}")
            print(f"devnet           {devnet_url}   (3 storage providers; tunasync archive status -c {wconf})")
            print(f"serve            {self.serve_url}/{MIRROR}/   (every file, evicted or not)")
            print(f"configs          {mconf}  {wconf}")
            print("Ctrl-C stops everything." if not self.once else "--once: waiting for the first sync.")
            return await self.watch(http, base, n_files)

    async def start_devnet(self, py: str) -> str:
        ready = self.d / "devnet.ready"
        ready.unlink(missing_ok=True)
        await self.spawn("devnet", py, "-m", "tunasync.cli.main", "devnet", "--data", str(self.d / "devnet"),
                         "--port", "0", "--provider-port", "0", "--providers", "3", "--epoch-seconds", "0.2",
                         "--ready-file", str(ready))
        deadline = time.monotonic() + 30
        while not ready.exists():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("the devnet did not start within 30 s")
            await asyncio.sleep(0.1)
        import json

        return str(json.loads(ready.read_text())["url"])

    async def start_serve(self, py: str, wconf: Path) -> str:
        ready = self.d / "serve.ready"
        ready.unlink(missing_ok=True)
        await self.spawn("serve", py, "-m", "tunasync.cli.main", "serve", "-c", str(wconf), "--listen",
                         "127.0.0.1:0", "--ready-file", str(ready))
        deadline = time.monotonic() + 30
        while not ready.exists():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("tunasync serve did not start within 30 s")
            await asyncio.sleep(0.1)
        import json

        return str(json.loads(ready.read_text())["url"]).rstrip("/")

    async def fetch_evicted(self, http: aiohttp.ClientSession) -> bool:
        """GET an evicted file through tunasync serve: retrieved from the devnet, verified, cached."""
        rel = OLD[1]
        async with http.get(f"{self.serve_url}/{MIRROR}/{rel}") as r:
            body = await r.read()
            status = r.status
        want = (self.d / "upstream" / rel).read_bytes()
        ok = status == 200 and body == want
        cached = self.d / "mirrors" / MIRROR / rel
        for _ in range(50):  # the verified file is linked into the tree once the retrieval completes
            if cached.exists():
                break
            await asyncio.sleep(0.1)
        print(f"--- GET {self.serve_url}/{MIRROR}/{rel}: {status}, {len(body)} bytes, "
              f"{'identical to upstream' if ok else 'DIFFERENT from upstream'} (retrieved from the devnet, "
              f"every block verified, now cached in the mirror tree: "
              f"{cached.exists()})")
        return ok

    async def wait_manager(self, http: aiohttp.ClientSession, base: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                async with http.get(f"{base}/ping") as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError("the manager did not answer within 30 s")

    async def archive_line(self, http: aiohttp.ClientSession, base: str) -> tuple[str, int]:
        try:
            async with http.get(f"{base}/archive") as r:
                rows = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return "", 0
        e = next((x for x in rows or [] if x.get("name") == MIRROR), None)
        if not e:
            return "", 0
        st = e.get("states", {})
        parts = [f"{k} {v['files']}" for k, v in st.items() if v.get("files")]
        copies = ", ".join(f"{n} piece(s) with {k} copies" for k, v in e.get("copies", {}).items() for n in [v])
        return f"archive: {', '.join(parts) or 'empty'}" + (f"; {copies}" if copies else ""), \
            int(st.get("evicted", {}).get("files", 0))

    async def watch(self, http: aiohttp.ClientSession, base: str, n_files: int) -> int:
        deadline = time.monotonic() + self.timeout
        shown = None
        shown_archive = ""
        synced = False
        while True:
            self.check_alive()
            try:
                async with http.get(f"{base}/jobs") as r:
                    jobs = await r.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                jobs = None
            if jobs is not None and jobs != shown:
                shown = jobs
                print(f"--- tunasynctl list --all @ {time.strftime('%H:%M:%S')}")
                print(gojson.dumps_indent(jobs))
            line, evicted = await self.archive_line(http, base)
            if line and line != shown_archive:
                shown_archive = line
                print(f"--- {line} @ {time.strftime('%H:%M:%S')}")
            status = next((j["status"] for j in jobs or [] if j.get("name") == MIRROR), None)
            if self.once and status == "success" and not synced:
                synced = True
                got = sum(1 for p in (self.d / "mirrors" / MIRROR).rglob("*") if p.is_file() and not p.is_symlink())
                if got < n_files - evicted:
                    print(f"sync reported success but only {got}/{n_files} files arrived", file=sys.stderr)
                    return 1
                print(f"first sync done: {n_files} files in {self.d / 'mirrors' / MIRROR}")
            if self.once and synced and evicted >= len(OLD):
                await self.print_archive_status()
                return 0 if await self.fetch_evicted(http) else 1
            if self.once and status == "failed":
                print("the demo sync failed; see the log:", file=sys.stderr)
                for p in sorted((self.d / "log" / MIRROR).glob("*")):
                    print(f"== {p}\n{p.read_text(errors='replace')[-2000:]}", file=sys.stderr)
                return 1
            if self.once and time.monotonic() > deadline:
                what = "the old files evicted" if synced else "a successful sync"
                print(f"no {what} within {self.timeout:g} s", file=sys.stderr)
                return 1
            await asyncio.sleep(0.5)


    async def print_archive_status(self) -> None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tunasync.cli.main", "archive", "status",
                                                    "-c", str(self.wconf), MIRROR, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        print(f"--- tunasync archive status -c {self.wconf} {MIRROR}")
        print(out.decode(errors="replace"))
        print(f"old files evicted: {', '.join(OLD)} (on Filecoin, 2 verified copies each)")


async def amain(args: argparse.Namespace, d: Path, tmp: str | None) -> int:
    demo = Demo(d, args.once, args.timeout)
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None  # amain runs as a task of asyncio.run
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    try:
        return await demo.run()
    except asyncio.CancelledError:
        print("\nstopping")
        return 0
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await demo.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tunasync.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--dir", help="working directory (default ./demo-data; a temporary one with --once)")
    ap.add_argument("--once", action="store_true", help="exit after the first successful sync")
    ap.add_argument("--timeout", type=float, default=120.0, help="--once gives up after this many seconds")
    args = ap.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    tmp = None
    if args.dir:
        d = Path(args.dir).resolve()
    elif args.once:
        tmp = tempfile.mkdtemp(prefix="tunasync-demo-")
        d = Path(tmp)
    else:
        d = Path("demo-data").resolve()
    return asyncio.run(amain(args, d, tmp))


if __name__ == "__main__":
    sys.exit(main())

