"""gin-like routing (404 text, trailing-slash redirects, 500 on a crash), TLS, extension points."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tunasync.manager.config import ManagerConfig
from tunasync.manager.db import Database
from tunasync.manager.server import create_app, start

from .mgrkit import Manager, free_port


async def test_ping(manager: Manager) -> None:
    code, body, resp = await manager.call("GET", "/ping")
    assert (code, body) == (200, {"message": "pong"})
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    async with manager.session.get(manager.url("/ping")) as r:
        assert await r.read() == b'{"message":"pong"}'  # Go's compact bytes


async def test_unknown_path_and_method_are_404_text(manager: Manager) -> None:
    for method, path in (("GET", "/nothing"), ("POST", "/jobs"), ("PUT", "/workers"), ("GET", "/cmd")):
        code, body, resp = await manager.call(method, path)
        assert (code, body) == (404, "404 page not found"), (method, path)
        assert resp.content_type == "text/plain"


async def test_trailing_slash_redirects(manager: Manager) -> None:
    code, _, resp = await manager.call("GET", "/jobs/?x=1")
    assert (code, resp.headers["Location"]) == (301, "/jobs?x=1")
    code, _, resp = await manager.call("POST", "/workers/")
    assert (code, resp.headers["Location"]) == (307, "/workers")
    code, body, _ = await manager.call("GET", "/nothing/")
    assert code == 404


async def test_handler_crash_is_500_empty(db: Database) -> None:
    def boom_route(app: web.Application) -> None:
        async def boom(_r: web.Request) -> web.Response:
            raise RuntimeError("kaputt")

        app.router.add_get("/boom", boom)

    cfg = ManagerConfig()
    cfg.server.port = free_port()
    app = create_app(cfg, db, extra_setup=[boom_route])
    runner = await start(app, cfg)
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{cfg.server.port}/boom") as r:
            assert r.status == 500 and await r.read() == b""
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: cannot make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return str(crt), str(key)


async def test_tls(db: Database, cert: tuple[str, str]) -> None:
    crt, key = cert
    cfg = ManagerConfig()
    cfg.server.port = free_port()
    cfg.server.ssl_cert, cfg.server.ssl_key = crt, key
    runner = await start(create_app(cfg, db), cfg)
    try:
        ctx = ssl.create_default_context(cafile=crt)
        async with aiohttp.ClientSession() as s:
            async with s.get(f"https://127.0.0.1:{cfg.server.port}/ping", ssl=ctx) as r:
                assert r.status == 200 and await r.json() == {"message": "pong"}
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with s.get(f"https://127.0.0.1:{cfg.server.port}/ping"):
                    pass
    finally:
        await runner.cleanup()


async def test_cmd_over_tls_trusts_ca_cert(db: Database, cert: tuple[str, str], tmp_path: Path) -> None:
    """files.ca_cert: the manager verifies an HTTPS worker against that CA only."""
    crt, key = cert
    got = []

    async def handle(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({"msg": "OK"})

    wapp = web.Application()
    wapp.router.add_post("/", handle)
    wrunner = web.AppRunner(wapp)
    await wrunner.setup()
    wport = free_port()
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(crt, key)
    await web.TCPSite(wrunner, "127.0.0.1", wport, ssl_context=sctx).start()
    cfg = ManagerConfig()
    cfg.server.port = free_port()
    cfg.files.ca_cert = crt
    runner = await start(create_app(cfg, db), cfg)
    base = f"http://127.0.0.1:{cfg.server.port}"
    try:
        async with aiohttp.ClientSession() as s:
            await s.post(base + "/workers", json={"id": "w1", "url": f"https://127.0.0.1:{wport}/"})
            async with s.post(base + "/cmd", json={"cmd": "start", "mirror_id": "m", "worker_id": "w1"}) as r:
                assert r.status == 200, await r.text()
        assert got == [{"cmd": "start", "mirror_id": "m", "args": None, "options": None}]
    finally:
        await runner.cleanup()
        await wrunner.cleanup()
