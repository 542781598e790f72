"""Benchmark `tunasync serve` in one run; prints throughputs and ratios.

    .venv/bin/python bench/serve.py [--size BYTES] [--shared-size BYTES] [--clients N] [--trials N]

Setup (in /dev/shm when present): a worker config with a plain mirror holding `local.bin` (1 GiB) and an
archived mirror holding `evicted.bin` (1 GiB) and `shared.bin` (64 MiB), each archived file its own
bundle CAR stored at one devnet provider, then evicted. `tunasync devnet`, `tunasync serve -c` and nginx
(with contrib/nginx/tunasync-archive.conf) run as subprocesses; every client is a fresh process with a
raw-socket HTTP client (recv_into one buffer: the client is never what is measured).

  1. local file: nginx vs serve, the same 1 GiB file over loopback, bytes discarded (goal >= 0.8)
  2. evicted file, first request (retrieve + verify + cache + stream; the client writes it to a file)
     vs the plain download of its CAR from the provider's /piece/ (also written to a file) (goal >= 0.8);
     the file is evicted again between trials
  3. N concurrent clients for the evicted 64 MiB file: network retrievals counted from serve's /metrics
     (goal: exactly 1), every body's sha256 must equal the file's
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
GIB, MIB = 1 << 30, 1 << 20
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


# -- clients (run in child processes) ---------------------------------------------------------------
def _request(url: str) -> tuple[socket.socket, int, bytes]:
    u = urlsplit(url)
    s = socket.create_connection((u.hostname, u.port or 80))
    target = u.path + (f"?{u.query}" if u.query else "")
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"{url}: connection closed in the headers")
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
    if status != 200:
        raise RuntimeError(f"{url}: HTTP {status}")
    return s, length, rest


def child_get(url: str, out: str) -> dict:
    """GET url; write the body to `out` (fsync) or discard it ("-")."""
    buf = bytearray(8 * MIB)
    mv = memoryview(buf)
    started = time.perf_counter()
    s, length, rest = _request(url)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if out != "-" else -1
    try:
        if fd >= 0 and rest:
            os.write(fd, rest)
        left = length - len(rest)
        while left:
            n = s.recv_into(mv, min(len(buf), left))
            if not n:
                raise RuntimeError(f"{url}: body ended {left} bytes early")
            if fd >= 0:
                os.write(fd, mv[:n])
            left -= n
        if fd >= 0:
            os.fsync(fd)
    finally:
        s.close()
        if fd >= 0:
            os.close(fd)
    return {"bytes": length, "seconds": time.perf_counter() - started}


async def _one_hashed(url: str, sem: asyncio.Semaphore, connected: list[int], go: asyncio.Event, n: int) -> str:
    """Connect, wait until all `n` clients are connected, then GET url hashing the body as it arrives
    (a raw non-blocking socket: no HTTP library between the bytes and the hash)."""
    loop = asyncio.get_running_loop()
    u = urlsplit(url)
    sock = socket.socket()
    sock.setblocking(False)
    try:
        async with sem:
            await loop.sock_connect(sock, (u.hostname, u.port))
        connected[0] += 1
        if connected[0] == n:
            go.set()
        await go.wait()  # the whole crowd asks at once
        await loop.sock_sendall(sock, f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n"
                                .encode())
        buf = bytearray(1 * MIB)
        mv = memoryview(buf)
        head = b""
        while b"\r\n\r\n" not in head:
            got = await loop.sock_recv_into(sock, mv)
            if not got:
                raise RuntimeError("closed in the headers")
            head += mv[:got]
        head, _, rest = head.partition(b"\r\n\r\n")
        if int(head.split(b" ", 2)[1]) != 200:
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        length = next(int(x.split(b":", 1)[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:"))
        h = hashlib.sha256(rest)
        left = length - len(rest)
        while left > 0:
            got = await loop.sock_recv_into(sock, mv)
            if not got:
                raise RuntimeError(f"body ended {left} bytes early")
            h.update(mv[:got])
            left -= got
        return h.hexdigest()
    finally:
        sock.close()


async def child_many(url: str, n: str) -> dict:
    clients = int(n)
    sem = asyncio.Semaphore(128)
    connected, go = [0], asyncio.Event()
    started = time.perf_counter()
    digests = await asyncio.gather(*(_one_hashed(url, sem, connected, go, clients) for _ in range(clients)),
                                   return_exceptions=True)
    errors = [repr(d) for d in digests if isinstance(d, BaseException)]
    return {"digests": [d for d in digests if isinstance(d, str)], "errors": errors[:5],
            "seconds": time.perf_counter() - started}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"client {args[0]} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spawn_child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)


# -- setup ------------------------------------------------------------------------------------------
def make_input(path: Path, size: int, seed: int) -> str:
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = rng.randbytes(min(left, 16 * MIB))
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    os.utime(path, (1.5e9, 1.5e9))
    return h.hexdigest()


def wait_ready(path: Path, proc: subprocess.Popen, what: str) -> dict:
    deadline = time.monotonic() + 120
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"{what} did not start")
        time.sleep(0.05)
    return json.loads(path.read_text())


def write_conf(work: Path, devnet_url: str) -> Path:
    conf = work / "worker.conf"
    conf.write_text(f"""
[global]
name = "bench"
log_dir = "{work}/log/{{{{.Name}}}}"
mirror_dir = "{work}/mirrors"
[manager]
api_base = "http://127.0.0.1:1"
[archive]
network = "devnet"
devnet_url = "{devnet_url}"
index_dir = "{work}/archive"
copies = 1
[[mirrors]]
name = "plain"
provider = "command"
command = "true"
upstream = ""
[[mirrors]]
name = "bench"
provider = "command"
command = "true"
upstream = ""
archive = true
""")
    return conf


def archive_and_evict(conf: Path, dn: dict) -> tuple[object, object, dict[str, str]]:
    """One bundle per file, stored at the provider, then evicted; returns (ms, index, {path: piece})."""
    from tunasync.archive import bundles, evict
    from tunasync.archive.hashing import hash_pending
    from tunasync.archive.index import ArchiveIndex
    from tunasync.archive.scan import scan
    from tunasync.worker.archive_setup import find_mirror
    from tunasync.worker.config import load_worker_config as load

    ms = find_mirror(load(conf), "bench")
    ms.ensure_dirs()
    index = ArchiveIndex(ms.index_path)
    scan(ms.root, index)
    hash_pending(index, ms.root, ms.profile)
    actor = dn["providers"][0]["actor"]
    pieces = {}
    for member in bundles.hashed_members(index):
        bid = bundles.pack(ms, index, [member])
        b = index.bundle(bid)
        body = json.dumps({"car_path": str(ms.car_path(bid)), "providers": [actor], "piece_cid": b.piece_cid,
                           "padded_size": b.padded_size}).encode()
        req = urllib.request.Request(dn["url"] + "/admin/seed", data=body, method="POST")
        seeded = json.loads(urllib.request.urlopen(req, timeout=600).read())
        index.record_copies(b.piece_cid, 0, [(actor, seeded["deals"][0], True)])
        index.set_bundle_stored(bid)
        pieces[member.path] = b.piece_cid
        out = evict.evict_one(index, ms.root, index.get(member.path))
        assert out.evicted, out.reason
    return ms, index, pieces


def nginx_conf(work: Path, port: int, serve_addr: str) -> Path:
    snippet = work / "tunasync-archive.conf"
    snippet.write_text((REPO / "contrib/nginx/tunasync-archive.conf").read_text().replace("127.0.0.1:14301",
                                                                                          serve_addr))
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "nginx" / d).mkdir(parents=True, exist_ok=True)
    conf = work / "nginx" / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {work}/nginx/nginx.pid;
error_log {work}/nginx/error.log;
events {{ worker_connections 4096; }}
http {{
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {work}/nginx/body;
    proxy_temp_path {work}/nginx/proxy;
    fastcgi_temp_path {work}/nginx/fastcgi;
    uwsgi_temp_path {work}/nginx/uwsgi;
    scgi_temp_path {work}/nginx/scgi;
    sendfile on;
    tcp_nopush on;
    server {{
        listen 127.0.0.1:{port};
        root {work}/mirrors;
        include {snippet};
    }}
}}
""")
    return conf


def metric(url: str, name: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def wait_state(index, path: str, state: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while index.get(path).state.value != state:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never became {state}")
        time.sleep(0.05)


def rate(r: dict) -> float:
    return r["bytes"] / r["seconds"] / 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the run ----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=GIB)
    ap.add_argument("--shared-size", type=int, default=64 * MIB)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_get(*rest) if kind == "get" else asyncio.run(child_many(*rest))
        print(json.dumps(result))
        return

    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-serve-", dir=shm))
    for d in ("mirrors/plain", "mirrors/bench"):
        (work / d).mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    make_input(work / "mirrors/plain/local.bin", args.size, 1)
    sha_evicted = make_input(work / "mirrors/bench/evicted.bin", args.size, 2)
    sha_shared = make_input(work / "mirrors/bench/shared.bin", args.shared_size, 3)
    procs: list[subprocess.Popen] = []
    try:
        ready = work / "devnet.json"
        procs.append(subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "devnet", "--data",
                                       str(work / "devnet"), "--port", "0", "--provider-port", "0", "--providers",
                                       "1", "--epoch-seconds", "1", "--ready-file", str(ready),
                                       "--provider-kind", "boost"],  # /piece/ = the bare CAR (the reference)
                                      stdout=subprocess.DEVNULL))
        dn = wait_ready(ready, procs[-1], "devnet")
        conf = write_conf(work, dn["url"])
        _ms, index, pieces = archive_and_evict(conf, dn)
        print(f"prepared {args.size} B local + {args.size} B and {args.shared_size} B archived and evicted "
              f"({time.perf_counter() - t:.0f} s)")

        ready = work / "serve.json"
        procs.append(subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "serve", "-c", str(conf),
                                       "--listen", "127.0.0.1:0", "--ready-file", str(ready)],
                                      stdout=subprocess.DEVNULL))
        serve = wait_ready(ready, procs[-1], "serve")["url"]
        ng_port = free_port()
        ng_conf = nginx_conf(work, ng_port, serve.removeprefix("http://"))
        procs.append(subprocess.Popen([NGINX, "-p", str(work / "nginx"), "-c", str(ng_conf), "-e",
                                       str(work / "nginx/error.log")]))
        nginx = f"http://127.0.0.1:{ng_port}"
        while True:
            try:
                socket.create_connection(("127.0.0.1", ng_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        # 1. local file
        ng, sv = [], []
        for _ in range(args.trials):
            ng.append(run_child("get", f"{nginx}/plain/local.bin", "-"))
            sv.append(run_child("get", f"{serve}/plain/local.bin", "-"))
        best_ng, best_sv = max(map(rate, ng)), max(map(rate, sv))
        print(f"1. local {args.size} B over loopback: nginx {best_ng:.0f} MB/s, serve {best_sv:.0f} MB/s "
              f"(best of {args.trials}); ratio {best_sv / best_ng:.2f} (goal >= 0.80)")

        # 2. evicted file, first request, vs the plain CAR download
        provider = dn["providers"][0]["url"]
        plain, first = [], []
        ok = True
        for i in range(args.trials):
            plain.append(run_child("get", f"{provider}/piece/{pieces['evicted.bin']}", str(work / "plain.car")))
            (work / "plain.car").unlink()
            first.append(run_child("get", f"{serve}/bench/evicted.bin", str(work / "out.bin")))
            wait_state(index, "evicted.bin", "cached")
            if i == 0:
                ok = hashlib.file_digest(open(work / "out.bin", "rb"), "sha256").hexdigest() == sha_evicted
            (work / "out.bin").unlink()
            from tunasync.archive import evict

            assert evict.evict_one(index, str(work / "mirrors/bench"), index.get("evicted.bin")).evicted
        best_p, best_f = max(map(rate, plain)), max(map(rate, first))
        print(f"2. evicted {args.size} B, first request: serve {best_f:.0f} MB/s (retrieve + verify + cache + "
              f"stream, bytes correct: {ok}); plain CAR download {best_p:.0f} MB/s ({plain[0]['bytes']} B); "
              f"ratio {best_f / best_p:.2f} (goal >= 0.80)")

        # 3. many clients, one evicted file
        before = metric(serve, 'tunasync_serve_retrievals_total{result="ok"}')
        joins0 = metric(serve, "tunasync_serve_retrieval_joins_total")
        half = args.clients // 2
        t = time.perf_counter()
        kids = [spawn_child("many", f"{serve}/bench/shared.bin", str(n)) for n in (half, args.clients - half)]
        outs = [json.loads(k.communicate()[0].strip().splitlines()[-1]) for k in kids]
        seconds = time.perf_counter() - t
        retrievals = metric(serve, 'tunasync_serve_retrievals_total{result="ok"}') - before
        joins = metric(serve, "tunasync_serve_retrieval_joins_total") - joins0
        digests = [d for o in outs for d in o["digests"]]
        errors = [e for o in outs for e in o["errors"]]
        good = sum(1 for d in digests if d == sha_shared)
        print(f"3. {args.clients} concurrent clients, evicted {args.shared_size} B file: {retrievals:.0f} network "
              f"retrieval(s) (goal: exactly 1); {good}/{args.clients} bodies byte-identical and correct; "
              f"{joins:.0f} joined the running retrieval, the rest read the cached file; "
              f"{len(errors)} errors{' ' + str(errors) if errors else ''}; {seconds:.1f} s "
              f"({args.clients * args.shared_size / seconds / 1e6:.0f} MB/s aggregate)")
        print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        index = None
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
