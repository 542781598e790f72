"""`tunasync filecoin copies|fetch` as a user runs them, against the devnet."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import make_file


def tunasync(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunasync.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_copies_of_a_file_and_of_its_piece(devnet, tmp_path):
    f = make_file(tmp_path, "x.bin", 200_000)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(2)])
    devnet.fault(devnet.actor(1), "never_seal")
    devnet.seed(f.car, [devnet.actor(1)], state="published")  # someone's deal, never sealed
    r = tunasync("filecoin", "copies", "--network", devnet.url, str(f.root))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"2 verified copies of {f.root}: f01000 f01002"
    assert "- f01001 deal" in r.stdout and "not sealed" in r.stdout
    conf = tmp_path / "worker.conf"
    conf.write_text(f'[archive]\nnetwork = "devnet"\ndevnet_url = "{devnet.url}"\n')
    r = tunasync("filecoin", "copies", "-c", str(conf), "--json", str(f.piece))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["copies"] == 2 and doc["providers"] == ["f01000", "f01002"]
    assert doc["pieces"][0]["paddedSize"] == f.padded_size


def test_fetch_whole_and_range(devnet, tmp_path):
    f = make_file(tmp_path, "y.bin", 2_100_000)
    devnet.seed(f.car, [devnet.actor(1)])
    out = tmp_path / "y.out"
    r = tunasync("filecoin", "fetch", "--network", devnet.url, str(f.root), str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == f.data
    r = tunasync("filecoin", "fetch", "--network", devnet.url, str(f.root), str(tmp_path / "part"),
                 "--range", "1048000-1049999")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "part").read_bytes() == f.data[1048000:1050000]


def test_fetch_failure_leaves_nothing(devnet, tmp_path):
    f = make_file(tmp_path, "z.bin", 3000)
    devnet.seed(f.car, [devnet.actor(0)])
    devnet.fault(devnet.actor(0), "corrupt")
    out = tmp_path / "z.out"
    r = tunasync("filecoin", "fetch", "--network", devnet.url, "--timeout", "3", str(f.root), str(out))
    assert r.returncode == 1
    assert "Error:" in r.stderr and str(f.root) in r.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_bad_config_names_file_and_key(tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text('[archive]\nnetwork = "filecoin"\n')
    r = tunasync("filecoin", "copies", "-c", str(conf), "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
    assert r.returncode == 1
    assert f"{conf}: archive.lotus_url" in r.stderr


def test_fetch_through_curio_records_with_a_worker_config(devnet, tmp_path):
    # the default provider kind is curio: IPNI names a peer ID of its own and a /dns/ address
    f = make_file(tmp_path, "w.bin", 1_200_000)
    devnet.seed(f.car, [devnet.actor(2)])
    p = devnet.providers[2]
    assert p["kind"] == "curio" and p["ipniPeerId"] != p["peerId"] and p["multiaddr"].startswith("/dns/localhost/")
    conf = tmp_path / "worker.conf"
    conf.write_text(f'[archive]\nnetwork = "devnet"\ndevnet_url = "{devnet.url}"\n')
    out = tmp_path / "w.out"
    r = tunasync("filecoin", "fetch", "-c", str(conf), str(f.root), str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == f.data
    assert f"verified from http://localhost:{p['port']} " in r.stdout
    r = tunasync("filecoin", "copies", "-c", str(conf), str(f.root))
    assert r.returncode == 0, r.stderr
    assert f"= IPNI peer {p['ipniPeerId']} is {p['actor']}" in r.stdout


def test_devnet_refuses_an_unknown_provider_kind(tmp_path):
    r = tunasync("devnet", "--data", str(tmp_path / "d"), "--port", "0", "--provider-kind", "curio,lotus-miner")
    assert r.returncode == 2 and "--provider-kind" in r.stderr and "'lotus-miner' is not one of" in r.stderr
