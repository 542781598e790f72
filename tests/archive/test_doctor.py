"""`tunasync archive doctor` against a real devnet: all well, then each fault switched on in turn.

The doctor's words are the point: every failed check names what is wrong and what to do.
"""

from __future__ import annotations

import json
import sqlite3
import time

from tests.archive.archkit import default_files, make_tree, write_conf
from tests.archive.test_archive_cli import tunasync
from tests.serve.test_cli import ServeProc
from tunasync.archive import doctor
from tunasync.worker.archive_setup import archive_setup
from tunasync.worker.config import load_worker_config as load


def checks(conf, *, ok: bool) -> dict[str, dict]:
    p = tunasync("archive", "doctor", "-c", str(conf), "--json", check=False)
    out = json.loads(p.stdout)
    assert p.returncode == (0 if ok else 1), p.stdout + p.stderr
    assert out["ok"] is ok
    return {c["name"]: c for c in out["checks"]}


def setup_conf(tmp_path, devnet, extra: str = "", **kw):
    mirror = tmp_path / "mirror"
    files = default_files(6)
    make_tree(mirror, files, old=set(list(files)[:4]))
    gw = devnet.providers[0]["url"]
    return write_conf(tmp_path, devnet.url, mirror, copies=2, extra=f'gateways = ["{gw}"]\n{extra}', **kw)


def test_a_healthy_devnet_passes_every_check(tmp_path, devnet):
    conf = setup_conf(tmp_path, devnet)
    tunasync("archive", "store", "-c", str(conf), "demo", "--wait", "60", "--poll", "0.2")
    got = checks(conf, ok=True)
    assert got["lotus"]["detail"].endswith("network 'localnet', epochs of 1 s")
    assert got["chain head"]["ok"] and got["lotus methods"]["ok"]
    assert all(got[f"provider {p['actor']}"]["ok"] for p in devnet.providers)
    assert got["ipni"]["ok"] and got["singularity"]["ok"] and "wallet" in got["singularity"]["detail"]
    gw = devnet.providers[0]["url"]
    assert got[f"gateway {gw}"]["detail"] == "answers a CID we stored with the right block"
    assert got["piece_url"]["ok"] and "loopback" in got["piece_url"]["detail"]
    assert got["index demo"]["detail"] == "integrity ok, journal empty"
    plain = tunasync("archive", "doctor", "-c", str(conf)).stdout
    assert "ok    lotus:" in plain and "FAIL" not in plain


def test_a_down_devnet_names_the_fix(tmp_path, devnet):
    conf = setup_conf(tmp_path, devnet)
    devnet.stop()
    got = checks(conf, ok=False)
    assert "cannot reach Lotus at" in got["lotus"]["detail"]
    assert "start the devnet" in got["lotus"]["fix"]
    assert got["ipni"]["ok"] is False and got["singularity"]["ok"] is False
    p = tunasync("archive", "doctor", "-c", str(conf), check=False)
    assert p.returncode == 1 and "check(s) failed: lotus" in p.stderr


def test_rpc_faults_and_unknown_providers(tmp_path, devnet):
    conf = setup_conf(tmp_path, devnet, extra='providers = ["f099999"]')
    got = checks(conf, ok=False)
    assert got["provider f099999"]["ok"] is False and "not on chain" in got["provider f099999"]["detail"]
    devnet.fault("rpc", "malformed")
    got = checks(conf, ok=False)
    assert got["lotus"]["ok"] is False and "malformed" in got["lotus"]["detail"]


def test_piece_url_with_a_trailing_piece_is_caught(tmp_path, devnet):
    # Deals that never seal keep the bundle staged; `tunasync serve -c` offers it at <piece_url>/piece/<cid>.
    for p in devnet.providers:
        devnet.fault(p["actor"], "never_seal")
    conf = setup_conf(tmp_path, devnet)
    tunasync("archive", "store", "-c", str(conf), "demo", "--wait", "1", "--poll", "0.2", check=False)
    serve = ServeProc(tmp_path, "-c", str(conf))
    try:
        good = conf.read_text().replace("[archive]\n", f'[archive]\npiece_url = "{serve.url}"\n')
        conf.write_text(good)
        got = checks(conf, ok=True)
        assert got["piece_url"]["detail"].startswith(f"{serve.url}/piece/baga") and "right CommP" in got["piece_url"]["detail"]
        conf.write_text(good.replace(f'piece_url = "{serve.url}"', f'piece_url = "{serve.url}/piece"'))
        got = checks(conf, ok=False)
        c = got["piece_url"]
        assert f"GET {serve.url}/piece/piece/baga" in c["detail"] and "404" in c["detail"]
        assert c["fix"] == "drop the trailing /piece: CARs are fetched at <piece_url>/piece/<pieceCid>"
    finally:
        serve.stop()


def test_a_half_done_step_and_a_stale_head(tmp_path, devnet):
    conf = setup_conf(tmp_path, devnet)
    tunasync("archive", "scan", "-c", str(conf), "demo")
    db = sqlite3.connect(tmp_path / "archive" / "demo" / "index.sqlite")
    db.execute("INSERT INTO journal (op, path, step, created) VALUES ('evict', 'pool/x.deb', 'unlinked', 0)")
    db.commit()
    db.close()
    got = checks(conf, ok=False)
    assert got["index demo"]["detail"] == "1 journaled step(s) left half done (first: evict at unlinked, pool/x.deb)"
    # A node whose head is an hour old (here: our clock an hour ahead) is not trusted.
    import asyncio

    res = asyncio.run(doctor.run(archive_setup(load(conf)), now=lambda: time.time() + 3600))
    head = next(c for c in res if c.name == "chain head")
    assert head.ok is False and "behind the wall clock" in head.detail and "NTP" in head.fix
