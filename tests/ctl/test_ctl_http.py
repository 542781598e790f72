"""tunasynctl's HTTP: bearer tokens against a manager with auth, TLS with --ca-cert, the 5 s timeout."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tunasync.manager.config import TokenConfig

from .ctlkit import ctl, ctl_env, free_port

TOKENS = [
    TokenConfig(name="ops", role="admin", token="adm-tok"),
    TokenConfig(name="dash", role="read", token="read-tok"),
    TokenConfig(name="w1", role="worker", token="wrk-tok"),
]


@pytest.fixture
async def secured(stack_factory):
    s = await stack_factory(tokens=TOKENS)
    s.token = "adm-tok"
    await s.register("w1")
    await s.post_status("w1", "debian", "success")
    return s


def _addr(stack) -> list[str]:
    return ["-m", "127.0.0.1", "-p", str(stack.config.server.port)]


async def test_public_routes_need_no_token(home, secured):
    r = await ctl(ctl_env(home), "list", "-a", "-f", "{{.Name}}", *_addr(secured))
    assert (r.code, r.out) == (0, "debian\n")


async def test_missing_token_is_refused_with_the_reason(home, secured):
    r = await ctl(ctl_env(home), "workers", *_addr(secured))
    assert r.code == 1
    assert r.err.startswith("Filed to correctly get informations frommanager server: HTTP status code is not 200: 401")
    assert "missing bearer token" in r.err
    r = await ctl(ctl_env(home), "list", "w1", "-v", *_addr(secured))
    assert r.code == 1 and "HTTP status code is not 200: 401" in r.out  # logged at INFO, as Go does


async def test_token_flag_env_and_config_file(home, secured):
    r = await ctl(ctl_env(home), "workers", "--token", "adm-tok", *_addr(secured))
    assert r.code == 0 and [w["id"] for w in r.json] == ["w1"]
    r = await ctl(ctl_env(home, TUNASYNC_TOKEN="read-tok"), "list", "w1", "-f", "{{.Name}}", *_addr(secured),
                  real=True)
    assert (r.code, r.out) == (0, "debian\n")
    conf = home / ".config" / "tunasync" / "ctl.conf"
    conf.parent.mkdir(parents=True)
    port = secured.config.server.port
    conf.write_text(f'manager_addr = "127.0.0.1"\nmanager_port = {port}\ntoken = "adm-tok"\n')
    r = await ctl(ctl_env(home), "set-size", "-w", "w1", "debian", "7T")
    assert (r.code, r.out) == (0, "Successfully updated mirror size to 7T\n")


async def test_read_token_cannot_send_commands(home, secured):
    r = await ctl(ctl_env(home, TUNASYNC_TOKEN="read-tok"), "start", "-w", "w1", "debian", *_addr(secured))
    assert r.code == 1
    assert r.err.startswith("Failed to correctly send command: HTTP status code is not 200: ")
    assert "role read may not POST /cmd" in r.err  # the manager's 403 reason is shown


def _self_signed(dir: Path, name: str) -> tuple[Path, Path]:
    cert, key = dir / f"{name}.pem", dir / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed: no test certificate")
async def test_https_when_ca_cert_given(home, tmp_path, stack_factory):
    cert, key = _self_signed(tmp_path, "server")
    other, _ = _self_signed(tmp_path, "other")
    s = await stack_factory(ssl_cert=str(cert), ssl_key=str(key))
    env = ctl_env(home)
    r = await ctl(env, "workers", "--ca-cert", str(cert), "-m", "localhost", "-p", str(s.config.server.port),
                  real=True)
    assert (r.code, r.out) == (0, "null\n"), r.err
    r = await ctl(env, "workers", "--ca-cert", str(other), "-m", "localhost", "-p", str(s.config.server.port))
    assert r.code == 1 and r.err.startswith('Filed to correctly get informations frommanager server: Get "https://')
    r = await ctl(env, "workers", "-m", "localhost", "-p", str(s.config.server.port))
    assert r.code == 1 and 'Get "http://localhost' in r.err


async def test_a_silent_manager_times_out_after_5_seconds(home):
    accepted: list[asyncio.StreamWriter] = []

    async def hang(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    port = free_port()
    server = await asyncio.start_server(hang, "127.0.0.1", port)
    try:
        t0 = time.monotonic()
        r = await ctl(ctl_env(home), "workers", "-m", "127.0.0.1", "-p", str(port), real=True)
        elapsed = time.monotonic() - t0
    finally:
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
    assert r.code == 1 and "timed out" in r.err
    assert 4.5 <= elapsed < 40
