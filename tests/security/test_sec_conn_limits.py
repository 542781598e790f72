"""Item 3 of the security review: idle and half-sent connections must not exhaust `tunasync serve`,
the manager or the worker's control port, nor fill their logs.

Each server runs for real on loopback with a small cap (50 connections) and a 1 s header timeout;
the attack is hundreds of connections that each send part of a request head and then nothing. A
normal client must still be answered, no more than the cap stays open, the half-sent ones are closed
once their head is late, and the log says so in one line, never a traceback per connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import aiohttp

from tests.ports import free_port
from tunasync.manager.config import ManagerConfig
from tunasync.manager.db import open_database
from tunasync.manager.server import create_app
from tunasync.manager.server import start as start_manager
from tunasync.worker.config import load_worker_config
from tunasync.worker.worker import Worker

from .servekit_sec import HALF_HEAD, ServeProc, close_all, closed_by_server, get, half_open, wait_for

CAP = 50




def test_serve_defaults_survive_more_half_sent_requests_than_descriptors(tmp_path):
    """Defaults only, open-file limit 256, 600 half-sent requests: the old serve accepted until it ran
    out of descriptors, logged a traceback per failed accept and starved normal clients. Now the cap
    is lowered to fit the limit and the oldest half-sent connections make room for new ones."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(b"x" * 1000)
    with ServeProc(tmp_path, ["--root", str(root)], nofile=256) as sp:
        before = sp.log_size()
        socks = half_open(sp.port, 600)
        try:
            r = get(sp.port, "/f.bin")
            assert r.status == 200 and r.body == b"x" * 1000
            assert sum(not closed_by_server(s) for s in socks) <= 128  # 256 less the reserve
        finally:
            close_all(socks)
        text = sp.log.read_bytes()[before:].decode(errors="replace")
    assert "Traceback" not in text and "accept" not in text, text[:2000]
    assert text.count("closed to make room (cap 128)") == 1, text
    assert len(text) < 2000


def test_serve_survives_half_sent_requests_with_few_descriptors(tmp_path):
    """400 half-sent requests against a serve whose open-file limit is 256: the old server ran out of
    descriptors (a traceback per failed accept, normal clients starved)."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(b"x" * 1000)
    args = ["--root", str(root), "--max-connections", str(CAP), "--header-timeout", "1", "--keepalive-timeout", "1"]
    with ServeProc(tmp_path, args, nofile=256) as sp:
        before = sp.log_size()
        socks = half_open(sp.port, 400)
        try:
            r = get(sp.port, "/f.bin")  # queued behind all 400: every one of them was accepted first
            assert r.status == 200 and r.body == b"x" * 1000
            assert sum(not closed_by_server(s) for s in socks) <= CAP
            wait_for(lambda: all(closed_by_server(s) for s in socks), 20, "half-sent requests closed")
            assert get(sp.port, "/f.bin").status == 200
        finally:
            close_all(socks)
        # a late head is told why (408); an endless one is cut at 64 KiB (431)
        with socket.create_connection(("127.0.0.1", sp.port), timeout=20) as s:
            s.sendall(HALF_HEAD)
            assert s.recv(100).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection(("127.0.0.1", sp.port), timeout=20) as s:
            head = HALF_HEAD + b"X-Pad: "
            s.sendall(head + b"a" * (64 * 1024 + 1 - len(head)))  # one byte over, and nothing after it
            assert s.recv(100).startswith(b"HTTP/1.1 431 ")
        # an idle keep-alive connection is closed after --keepalive-timeout
        with socket.create_connection(("127.0.0.1", sp.port), timeout=20) as s:
            s.sendall(b"GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b"x" * 1000):
                got += s.recv(65536)
            assert got.startswith(b"HTTP/1.1 200 ")
            assert s.recv(100) == b""  # the server closed it (the timeout of recv is 20 s)
        text = sp.log.read_bytes()[before:].decode(errors="replace")
    assert "Traceback" not in text and "accept" not in text, text[:2000]
    assert text.count("closed to make room") == 1, text  # one line, not one per connection
    assert len(text) < 2000


async def test_manager_caps_connections_and_times_out_heads(tmp_path, caplog):
    port = free_port()
    config = ManagerConfig.model_validate({"server": {"addr": "127.0.0.1", "port": port,
                                                      "max_connections": CAP, "header_timeout": 1}})
    db = await open_database("sqlite", os.path.join(str(tmp_path), "manager.sqlite"))
    runner = await start_manager(create_app(config, db), config)
    caplog.set_level(logging.INFO, logger="tunasync.httpguard")
    socks = await asyncio.to_thread(half_open, port, 200)
    try:
        async with aiohttp.ClientSession() as c, c.get(f"http://127.0.0.1:{port}/ping") as r:
            assert r.status == 200 and (await r.json())["message"] == "pong"
        assert sum(not closed_by_server(s) for s in socks) <= CAP
        await asyncio.to_thread(wait_for, lambda: all(closed_by_server(s) for s in socks), 20,
                                "half-sent requests closed")
    finally:
        close_all(socks)
        await runner.cleanup()
        await db.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "tunasync.httpguard"]
    assert len(lines) == 1 and "manager" in lines[0] and "closed to make room" in lines[0], lines


async def test_worker_control_port_caps_connections_and_times_out_heads(tmp_path, caplog):
    mport, wport = free_port(), free_port()
    config = ManagerConfig.model_validate({"server": {"addr": "127.0.0.1", "port": mport}})
    db = await open_database("sqlite", os.path.join(str(tmp_path), "manager.sqlite"))
    mrunner = await start_manager(create_app(config, db), config)
    conf = tmp_path / "worker.conf"
    conf.write_text(f"""
[global]
name = "w"
log_dir = "{tmp_path}/log/{{{{.Name}}}}"
mirror_dir = "{tmp_path}/data"
concurrent = 1
interval = 600

[manager]
api_base = "http://127.0.0.1:{mport}"

[server]
hostname = "127.0.0.1"
listen_addr = "127.0.0.1"
listen_port = {wport}
max_connections = {CAP}
header_timeout = 1

[[mirrors]]
name = "m"
provider = "command"
upstream = "x"
command = "true"
""")
    w = Worker(load_worker_config(str(conf)), tick=0.05, restart_delay=0.01, register_wait=10)
    await w.start()
    caplog.set_level(logging.INFO, logger="tunasync.httpguard")
    socks = await asyncio.to_thread(half_open, wport, 200)
    try:
        async with aiohttp.ClientSession() as c, c.post(f"http://127.0.0.1:{wport}/",
                                                        data=b'{"cmd":"ping","mirror_id":"m"}') as r:
            assert r.status == 200
        assert sum(not closed_by_server(s) for s in socks) <= CAP
        await asyncio.to_thread(wait_for, lambda: all(closed_by_server(s) for s in socks), 20,
                                "half-sent requests closed")
    finally:
        close_all(socks)
        await asyncio.wait_for(w.halt(), 30)
        await mrunner.cleanup()
        await db.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "tunasync.httpguard"]
    assert len(lines) == 1 and "worker control" in lines[0] and "closed to make room" in lines[0], lines
