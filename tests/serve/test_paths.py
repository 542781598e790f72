"""Traversal is impossible: `..` in every spelling, encoded slashes, NUL, backslashes, and symlinks out
of the root — parsed (pure) and requested over a real socket from a real `serve --root`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tunasync.serve.app import Server, start
from tunasync.serve.paths import BadPath, open_beneath, parse_path
from tunasync.serve.trees import tree_from_root


@pytest.mark.parametrize("target", [
    "/../etc/passwd", "/a/../../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2e/x", "/a/%2e%2e/%2e%2e/x", "/./a",
    "/a/%2e/b", "/a%2fb", "/a%2F..%2Fb", "/a%00b", "/a%5cb", "/a\\b",
])
def test_bad_paths_are_refused_not_normalised(target):
    with pytest.raises(BadPath):
        parse_path(target)


def test_good_paths_decode_per_segment():
    p = parse_path("/debian//pool/main/a%20b%2Bc.deb?x=../y")
    assert p.segments == ("debian", "pool", "main", "a b+c.deb") and not p.trailing_slash
    assert parse_path("/").segments == () and parse_path("/").trailing_slash
    assert parse_path("/d/").trailing_slash
    assert parse_path("/caf%C3%A9").segments == ("café",)
    assert parse_path("/%80raw").segments == ("\udc80raw",)  # a non-UTF-8 name on disk stays reachable
    assert parse_path("/...").segments == ("...",)  # three dots is a name


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    root = tmp_path / "root"
    (root / "dists" / "bookworm").mkdir(parents=True)
    (root / "dists" / "bookworm" / "Release").write_text("release\n")
    (root / "dists" / "stable").symlink_to("bookworm")  # inside: allowed
    (root / "file.txt").write_text("inside\n")
    (root / "up").symlink_to(outside)  # a directory link out of the root
    (root / "leak").symlink_to(outside / "secret")  # a file link out of the root
    (root / "abs").symlink_to("/etc/passwd")
    (root / "loop").symlink_to("loop")
    (root / ".tunasync-file.txt.abc.partial").write_text("in progress")
    os.mkfifo(root / "fifo")
    return root


def test_open_beneath_resolves_inside_and_refuses_outside(tree: Path):
    real = os.path.realpath(tree)
    t = open_beneath(real, ("dists", "stable", "Release"))
    assert t.kind == "file" and t.rel == "dists/bookworm/Release" and t.fd is not None
    os.close(t.fd)
    assert open_beneath(real, ("up", "secret")).kind == "outside"
    assert open_beneath(real, ("leak",)).kind == "outside"
    assert open_beneath(real, ("abs",)).kind == "outside"
    assert open_beneath(real, ("loop",)).kind == "missing"
    assert open_beneath(real, ("fifo",)).kind == "special"  # opened without blocking, then refused
    assert open_beneath(real, ("file.txt", "x")).kind == "missing"
    assert open_beneath(real, (".tunasync-file.txt.abc.partial",)).kind == "missing"


async def raw_request(port: int, target: str, method: str = "GET") -> tuple[int, bytes]:
    """One request with the target sent byte for byte (HTTP clients would normalise it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def test_traversal_over_http(tree: Path):
    runner, port = await start(Server([tree_from_root(str(tree))], mirrors=False), "127.0.0.1", 0)
    try:
        for target in ("/../outside/secret", "/%2e%2e/outside/secret", "/dists/%2e%2e/%2e%2e/outside/secret",
                       "/up%2fsecret", "/file.txt%00.html", "/dists%5c..%5c..%5coutside%5csecret"):
            status, body = await raw_request(port, target)
            assert status == 400, target
            assert b"secret\n" not in body
        for target in ("/up/secret", "/leak", "/abs", "/loop", "/.tunasync-file.txt.abc.partial"):
            status, body = await raw_request(port, target)
            assert status == 404, target
            assert b"secret" not in body and b"root:" not in body and b"in progress" not in body
        assert (await raw_request(port, "/fifo"))[0] == 403
        assert await raw_request(port, "/dists/stable/Release") == (200, b"release\n")
        assert (await raw_request(port, "/file.txt/"))[0] == 404
        status, body = await raw_request(port, "/")
        assert status == 200 and b"file.txt" in body and b".tunasync-" not in body
    finally:
        await runner.cleanup()
