"""Range and conditional requests: the pure decision, then the same answers from a real server for a
file on disk (sendfile), with content types a mirror's clients expect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.serve.servekit import client
from tunasync.serve.app import Server, start
from tunasync.serve.conditional import Validators, parse_range, plan
from tunasync.serve.mime import content_type
from tunasync.serve.trees import tree_from_root

V = Validators(size=1000, mtime_ns=1_500_000_000_999_999_999)
LM = "Fri, 14 Jul 2017 02:40:00 GMT"


@pytest.mark.parametrize("header,expect", [
    ("bytes=0-99", (0, 100)), ("bytes=900-", (900, 1000)), ("bytes=-100", (900, 1000)),
    ("bytes=-5000", (0, 1000)), ("bytes=990-2000", (990, 1000)), ("BYTES = 5 - 9", (5, 10)),
    ("bytes=1000-", "unsatisfiable"), ("bytes=-0", "unsatisfiable"), ("bytes=5000-6000", "unsatisfiable"),
    ("bytes=0-1,5-6", None), ("bytes=9-5", None), ("bytes=-", None), ("items=0-5", None), ("bytes=a-b", None),
    ("bytes=0-0", (0, 1)),
])
def test_parse_range(header, expect):
    assert parse_range(header, 1000) == expect


def test_validators_are_nginx_shaped():
    assert V.etag == '"59682f00-3e8"' and V.last_modified == LM


def test_plan_order_of_preconditions():
    assert plan("GET", {}, V).status == 200
    assert plan("GET", {"If-None-Match": V.etag}, V).status == 304
    assert plan("GET", {"If-None-Match": f'"x", W/{V.etag}'}, V).status == 304  # weak comparison
    assert plan("GET", {"If-None-Match": '"other"', "If-Modified-Since": LM}, V).status == 200  # INM wins
    assert plan("GET", {"If-Modified-Since": LM}, V).status == 304
    assert plan("GET", {"If-Modified-Since": "Fri, 14 Jul 2017 02:39:59 GMT"}, V).status == 200
    assert plan("GET", {"If-Modified-Since": "garbage"}, V).status == 200
    assert plan("GET", {"If-Match": '"nope"'}, V).status == 412
    assert plan("GET", {"If-Match": "*", "Range": "bytes=0-0"}, V).status == 206
    assert plan("GET", {"If-Unmodified-Since": "Thu, 13 Jul 2017 00:00:00 GMT"}, V).status == 412
    p = plan("GET", {"Range": "bytes=2000-"}, V)
    assert p.status == 416 and p.headers["Content-Range"] == "bytes */1000"


def test_plan_if_range():
    rng = {"Range": "bytes=10-19"}
    assert plan("GET", {**rng, "If-Range": V.etag}, V).status == 206
    assert plan("GET", {**rng, "If-Range": '"stale"'}, V).status == 200
    assert plan("GET", {**rng, "If-Range": f"W/{V.etag}"}, V).status == 200  # weak tags never match
    assert plan("GET", {**rng, "If-Range": LM}, V).status == 206
    assert plan("GET", {**rng, "If-Range": "Fri, 14 Jul 2017 02:41:00 GMT"}, V).status == 200  # exact date only
    p = plan("HEAD", rng, V)
    assert (p.status, p.start, p.length, p.headers["Content-Range"]) == (206, 10, 10, "bytes 10-19/1000")


def test_content_types():
    assert content_type("hello_1.0_amd64.deb") == "application/vnd.debian.binary-package"
    assert content_type("debian-12.iso") == "application/x-iso9660-image"
    assert content_type("Packages.gz") == "application/gzip"
    assert content_type("linux.tar.xz") == "application/x-xz"
    assert content_type("x.tar.gz") == "application/gzip"
    assert content_type("pkg-1.0-py3-none-any.whl") == "application/zip"
    assert content_type("index.html") == "text/html"
    assert content_type("InRelease") == "application/octet-stream"
    assert content_type("Release.gpg") == "application/pgp-signature"
    assert content_type("foo.rpm") == "application/x-rpm"


async def test_local_file_over_http(tmp_path: Path):
    data = os.urandom(300_000)
    (tmp_path / "pool").mkdir()
    f = tmp_path / "pool" / "x.deb"
    f.write_bytes(data)
    (tmp_path / "Packages.gz").write_bytes(b"\x1f\x8bgz")
    (tmp_path / "Packages").write_bytes(b"plain")
    os.utime(f, ns=(V.mtime_ns, V.mtime_ns))
    runner, port = await start(Server([tree_from_root(str(tmp_path))], mirrors=False), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/pool/x.deb"
    try:
        async with client() as c:
            async with c.get(url) as r:
                assert r.status == 200 and await r.read() == data
                assert r.headers["Content-Type"] == "application/vnd.debian.binary-package"
                assert r.headers["ETag"] == '"59682f00-493e0"' and r.headers["Last-Modified"] == LM
                assert r.headers["Accept-Ranges"] == "bytes"
            async with c.head(url) as r:
                assert r.status == 200 and r.headers["Content-Length"] == str(len(data))
                assert await r.read() == b""
            async with c.get(url, headers={"Range": "bytes=100-199"}) as r:
                assert r.status == 206 and await r.read() == data[100:200]
                assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
            async with c.get(url, headers={"Range": "bytes=-10"}) as r:
                assert r.status == 206 and await r.read() == data[-10:]
            async with c.get(url, headers={"Range": "bytes=0-1,10-11"}) as r:
                assert r.status == 200 and await r.read() == data  # several ranges: the whole file
            async with c.get(url, headers={"Range": f"bytes={len(data)}-"}) as r:
                assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
            async with c.get(url, headers={"If-None-Match": '"59682f00-493e0"'}) as r:
                assert r.status == 304 and await r.read() == b""
            async with c.get(url, headers={"If-Modified-Since": LM}) as r:
                assert r.status == 304
            async with c.get(url, headers={"Range": "bytes=0-9", "If-Range": '"changed"'}) as r:
                assert r.status == 200 and await r.read() == data
            # a .gz sibling is never sent in place of the file (aiohttp's FileResponse would)
            async with c.get(f"http://127.0.0.1:{port}/Packages", headers={"Accept-Encoding": "gzip"}) as r:
                assert await r.read() == b"plain" and "Content-Encoding" not in r.headers
            async with c.get(f"http://127.0.0.1:{port}/pool") as r:  # a directory without its slash
                assert r.status == 200 and str(r.url).endswith("/pool/") and r.history[0].status == 301
    finally:
        await runner.cleanup()
