"""Helpers for the security tests of serve and of the connection limits: a real `tunasync serve`
subprocess, an in-process serve of one plain tree, raw HTTP over loopback, and half-sent requests."""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.serve.servekit import (  # mirrors with evicted files on the devnet
    build_mirror,
    client,
    rand,
    serving,
    wait_until,
    write_conf,
)
from tunasync.serve.app import Server, start
from tunasync.serve.trees import tree_from_root

__all__ = ["build_mirror", "client", "rand", "serving", "wait_until", "write_conf"]

HALF_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n"  # no blank line: never complete


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    body: bytes


def raw_request(port: int, request: bytes, timeout: float = 20.0) -> Reply:
    """Send `request` as is to 127.0.0.1:port and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(status, headers, body)


def get(port: int, target: str, headers: dict[str, str] | None = None) -> Reply:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return raw_request(port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"
                       .encode())


def half_open(port: int, n: int) -> list[socket.socket]:
    """n connections that each sent part of a request head and nothing more (blocking: use a thread)."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(HALF_HEAD)
        out.append(s)
    return out


def closed_by_server(s: socket.socket) -> bool:
    """The server closed (or reset) this connection: it is readable (EOF, or a 408 before the EOF)."""
    readable, _, _ = select.select([s], [], [], 0)
    if not readable:
        return False
    try:
        s.setblocking(False)
        while s.recv(65536):
            pass
    except BlockingIOError:
        return False  # data but no EOF yet
    except OSError:
        pass  # reset
    return True


def wait_for(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        s.close()


@asynccontextmanager
async def serving_root(root: Path) -> AsyncIterator[int]:
    """`serve --root root` in this process on a free loopback port; yields the port."""
    server = Server([tree_from_root(str(root))], mirrors=False)
    runner, port = await start(server, "127.0.0.1", 0)
    try:
        yield port
    finally:
        await runner.cleanup()


class ServeProc:
    """`tunasync serve` as a subprocess (its log in a file), optionally with a low open-file limit."""

    def __init__(self, tmp: Path, args: list[str], nofile: int | None = None):
        self.tmp = tmp
        self.args = args
        self.nofile = nofile
        self.log = tmp / "serve.log"
        self.ready = tmp / "serve.ready.json"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> ServeProc:
        cmd = [sys.executable, "-m", "tunasync.cli.main", "serve", "--listen", "127.0.0.1:0",
               "--ready-file", str(self.ready), *self.args]
        nofile = self.nofile

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wait_for(lambda: self.ready.exists() or self.proc.poll() is not None, 60, "serve to listen")
        if not self.ready.exists():
            raise AssertionError(f"serve exited: {self.log.read_text()}")
        self.port = json.loads(self.ready.read_text())["port"]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_size(self) -> int:
        return self.log.stat().st_size
