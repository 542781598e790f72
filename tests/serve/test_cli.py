"""`tunasync serve` as users run it: a subprocess, --root or -c with several mirrors, the policy flags,
/piece/ for storage providers, /metrics, and clear errors for bad arguments."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.serve.servekit import build_mirror, client, rand, wait_until, write_conf
from tunasync.cli.main import cli
from tunasync.cli.serve import parse_listen

MIB = 1 << 20


class ServeProc:
    def __init__(self, tmp: Path, *args: str):
        self.ready = tmp / f"serve-{time.monotonic_ns()}.json"
        self.log = tmp / "serve.log"
        cmd = [sys.executable, "-m", "tunasync.cli.main", "serve", "--listen", "127.0.0.1:0", "--ready-file",
               str(self.ready), "-v", *args]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"serve did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.info = json.loads(self.ready.read_text())
        self.url = self.info["url"]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def test_parse_listen():
    assert parse_listen("127.0.0.1:14301") == ("127.0.0.1", 14301)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert parse_listen(":80") == ("0.0.0.0", 80)
    for bad in ("localhost", "1.2.3.4:x", "h:70000"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def run(*args: str):
    """The CLI in this process (argument errors need no subprocess)."""
    return CliRunner().invoke(cli, ["serve", *args])


def test_bad_arguments_are_clear(tmp_path):
    assert "exactly one of --root DIR or -c" in run().output
    assert "exactly one of" in run("--root", str(tmp_path), "-c", str(tmp_path / "x")).output
    r = run("--root", str(tmp_path), "--listen", "nowhere")
    assert r.exit_code == 2 and "--listen" in r.output
    r = run("--root", str(tmp_path), "--on-disconnect", "maybe")
    assert r.exit_code == 2 and "continue" in r.output
    r = run("--root", str(tmp_path / "missing"))
    assert r.exit_code == 2 and "is not a directory" in r.output
    bad = tmp_path / "bad.conf"
    bad.write_text("[archive]\ncache_budget = \"lots\"\n")
    r = run("-c", str(bad))
    assert r.exit_code == 1 and str(bad) in r.output and "cache_budget" in r.output
    h = run("--help").output
    for flag in ("--retrieve-timeout", "--range-fill / --no-range-fill", "--on-disconnect", "14301"):
        assert flag in h


async def test_root_mode(tmp_path):
    (tmp_path / "tree" / "d").mkdir(parents=True)
    (tmp_path / "tree" / "d" / "f.txt").write_text("hello\n")
    p = ServeProc(tmp_path, "--root", str(tmp_path / "tree"))
    try:
        async with client() as c:
            async with c.get(p.url + "/d/f.txt") as r:
                assert r.status == 200 and await r.text() == "hello\n"
            async with c.get(p.url + "/") as r:
                assert "d/" in await r.text()
            async with c.get(p.url + "/piece/baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq") as r:
                assert r.status == 404  # --root offers no pieces
            async with c.get(p.url + "/metrics") as r:
                text = await r.text()
                assert "tunasync_serve_requests_total" in text
                assert "# TYPE tunasync_filecoin_skipped_addrs_total counter" in text  # filecoin/multiaddr.py
    finally:
        assert p.stop() == 0


async def test_config_mode_with_several_mirrors_and_pieces(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"debian": True, "pypi": True, "plain": False})
    deb = build_mirror(devnet, conf, "debian", {"pool/a.deb": rand(2 * MIB, 61), "README": b"deb\n"},
                       ["pool/a.deb"])
    pypi = build_mirror(devnet, conf, "pypi", {"packages/x.whl": rand(70_000, 62)}, ["packages/x.whl"])
    (tmp_path / "mirrors" / "plain" / "hello.txt").write_text("plain\n")
    car = deb.ms.car_path(deb.index.get("pool/a.deb").bundle_id).read_bytes()
    p = ServeProc(tmp_path, "-c", str(conf), "--retrieve-timeout", "5", "--no-range-fill",
                  "--on-disconnect", "cancel")
    try:
        assert p.info["trees"] == ["debian", "pypi", "plain"]
        async with client() as c:
            async with c.get(p.url + "/") as r:
                page = await r.text()
                assert all(f'href="{n}/"' in page for n in ("debian", "pypi", "plain"))
            async with c.get(p.url + "/plain/hello.txt") as r:
                assert await r.text() == "plain\n"
            async with c.get(p.url + "/pypi/packages/x.whl", headers={"Range": "bytes=60000-"}) as r:
                assert r.status == 206 and await r.read() == pypi.files["packages/x.whl"][60000:]
            await_cached = pypi.state("packages/x.whl")
            assert await_cached == "evicted"  # --no-range-fill: nothing fetched in the background
            async with c.get(p.url + "/debian/pool/a.deb") as r:
                assert r.status == 200 and await r.read() == deb.files["pool/a.deb"]
            await wait_until(lambda: deb.state("pool/a.deb") == "cached")
            async with c.get(f"{p.url}/piece/{deb.piece}") as r:  # storage providers fetch our CARs here
                assert r.status == 200 and await r.read() == car
                assert r.headers["Content-Type"] == "application/vnd.ipld.car; version=1"
            async with c.get(f"{p.url}/piece/{deb.piece}", headers={"Range": "bytes=0-9"}) as r:
                assert r.status == 206 and await r.read() == car[:10]
            async with c.get(f"{p.url}/piece/not-a-cid") as r:
                assert r.status == 400
            async with c.get(p.url + "/metrics") as r:
                text = await r.text()
                assert 'tunasync_serve_retrievals_total{result="ok"} 1.0' in text
                assert 'tunasync_serve_range_retrievals_total{result="ok"} 1.0' in text
    finally:
        assert p.stop() == 0
    assert "tunasync serve: /debian/, /pypi/, /plain/ at http://127.0.0.1:" in p.log.read_text()
