"""Behind a real nginx with the shipped contrib/nginx/tunasync-archive.conf: a file on disk is nginx's,
an evicted one comes through the fallback (verified, cached), after which nginx serves it itself with
the same validators."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.devnetkit import REPO
from tests.ports import free_port
from tests.serve.servekit import build_mirror, client, rand, serving, wait_until, write_conf

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
SNIPPET = REPO / "contrib" / "nginx" / "tunasync-archive.conf"
MIB = 1 << 20

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")




def nginx_conf(tmp: Path, port: int, root: Path, serve_addr: str) -> Path:
    """nginx.conf for a prefix dir in tmp; the shipped snippet is included with serve's address."""
    text = SNIPPET.read_text()
    assert "http://127.0.0.1:14301;" in text  # the default the docs promise
    snippet = tmp / "tunasync-archive.conf"
    snippet.write_text(text.replace("127.0.0.1:14301", serve_addr))
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (tmp / d).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read pytest's 0700 tmp dirs
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp}/logs/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        include {snippet};
    }}
}}
""")
    return conf


class Nginx:
    def __init__(self, tmp: Path, root: Path, serve_addr: str):
        self.tmp = tmp
        self.port = free_port()
        self.conf = nginx_conf(tmp, self.port, root, serve_addr)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Nginx:
        assert NGINX is not None
        check = subprocess.run([NGINX, "-t", "-p", str(self.tmp), "-c", str(self.conf), "-e",
                                str(self.tmp / "logs/error.log")], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([NGINX, "-p", str(self.tmp), "-c", str(self.conf), "-e",
                                      str(self.tmp / "logs/error.log")], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {(self.tmp / 'logs/error.log').read_text()}") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def test_nginx_serves_disk_and_falls_back_to_serve_for_evicted(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    files = {"pool/local.deb": rand(200_000, 51), "pool/old.deb": rand(3 * MIB, 52), "pool/r.iso": rand(3 * MIB, 53)}
    m = build_mirror(devnet, conf, "deb", files, ["pool/old.deb", "pool/r.iso"])
    ng_dir = tmp_path / "nginx"
    ng_dir.mkdir()
    async with serving(conf) as s:
        with Nginx(ng_dir, tmp_path / "mirrors", s.url.removeprefix("http://")) as ng:
            async with client() as c:
                async with c.get(ng.url + "/deb/pool/local.deb") as r:
                    assert r.status == 200 and await r.read() == files["pool/local.deb"]
                    assert r.headers["Server"].startswith("nginx") and "X-Tunasync-Source" not in r.headers
                async with c.head(ng.url + "/deb/pool/old.deb") as r:
                    assert r.status == 200 and r.headers["Content-Length"] == str(3 * MIB)
                async with c.get(ng.url + "/deb/pool/r.iso", headers={"Range": "bytes=-5"}) as r:
                    assert r.status == 206 and await r.read() == files["pool/r.iso"][-5:]
                    assert r.headers["X-Tunasync-Source"] == "archive"
                async with c.get(ng.url + "/deb/pool/") as r:
                    page = await r.text()
                    assert "old.deb" in page and "evicted" in page and "local.deb" in page
                async with c.get(ng.url + "/deb/pool", allow_redirects=False) as r:
                    assert r.status == 301 and r.headers["Location"].endswith("/deb/pool/")
                async with c.get(ng.url + "/deb/pool/old.deb") as r:
                    assert r.status == 200 and await r.read() == files["pool/old.deb"]
                    assert r.headers["X-Tunasync-Source"] == "archive"  # through the fallback
                    etag = r.headers["ETag"]
                await wait_until(lambda: m.state("pool/old.deb") == "cached")
                async with c.get(ng.url + "/deb/pool/old.deb") as r:  # on disk now: nginx's own
                    assert r.status == 200 and await r.read() == files["pool/old.deb"]
                    assert "X-Tunasync-Source" not in r.headers and r.headers["ETag"] == etag
                for bad in ("/deb/%2e%2e/%2e%2e/etc/passwd", "/deb/pool%2f..%2f..%2fworker.conf"):
                    async with c.get(ng.url + bad) as r:
                        assert r.status in (400, 404) and b"root:" not in await r.read()
        log = (ng_dir / "logs" / "access.log").read_text()
        assert "/deb/pool/old.deb" in log
    assert s.counter.full() == 2  # old.deb, and r.iso's background fill
