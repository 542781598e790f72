"""`tunasync car verify` and `tunasync car extract` as a user runs them."""

from __future__ import annotations

import random

import pytest

from tests.content.content_helpers import ipfs_car, tunasync
from tunasync.content.car import encode_header, write_file_car
from tunasync.content.carread import iter_car
from tunasync.content.cid import encode_varint


@pytest.fixture
def file_car(tmp_path):
    data = random.Random(1).randbytes((2 << 20) + 17)
    (tmp_path / "src").write_bytes(data)
    info = write_file_car(str(tmp_path / "src"), str(tmp_path / "f.car"))
    return tmp_path / "f.car", info.root, data


def test_verify_reports_roots_blocks_and_ok(file_car):
    car, root, _ = file_car
    r = tunasync("car", "verify", str(car))
    assert r.returncode == 0
    assert f"1 root(s) {root}; 4 blocks" in r.stdout and "OK" in r.stdout


def test_verify_fails_on_a_flipped_byte_naming_the_block(file_car, tmp_path):
    car, _, _ = file_car
    raw = bytearray(car.read_bytes())
    raw[-1] ^= 1
    (tmp_path / "bad.car").write_bytes(raw)
    r = tunasync("car", "verify", str(tmp_path / "bad.car"))
    assert r.returncode == 1 and "bafkrei" in r.stderr and "do not match the CID" in r.stderr


def test_verify_fails_on_an_incomplete_dag(file_car, tmp_path):
    car, _, _ = file_car
    c = iter_car(open(car, "rb"))
    blocks = list(c)[:-1]
    with open(tmp_path / "short.car", "wb") as f:
        f.write(encode_header(c.roots))
        for cid, b in blocks:
            f.write(encode_varint(len(cid.bytes) + len(b)) + cid.bytes + b)
    r = tunasync("car", "verify", str(tmp_path / "short.car"))
    assert r.returncode == 1 and "DAG is incomplete: 1 block(s) missing" in r.stderr


def test_verify_rejects_non_car_input(tmp_path):
    (tmp_path / "junk.car").write_bytes(b"\xff" * 40)
    r = tunasync("car", "verify", str(tmp_path / "junk.car"))
    assert r.returncode == 1 and "malformed CAR" in r.stderr
    r = tunasync("car", "verify", str(tmp_path / "nope.car"))
    assert r.returncode == 1 and "No such file" in r.stderr


def test_extract_whole_file_and_a_range(file_car, tmp_path):
    car, root, data = file_car
    r = tunasync("car", "extract", str(car), str(root), str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_bytes() == data
    r = tunasync("car", "extract", str(car), str(root), str(tmp_path / "part"), "--range", "1048570-1048580")
    assert r.returncode == 0 and (tmp_path / "part").read_bytes() == data[1048570:1048581]
    r = tunasync("car", "extract", str(car), str(root), str(tmp_path / "tail"), "--range", f"{len(data) - 3}-")
    assert (tmp_path / "tail").read_bytes() == data[-3:]


def test_extract_errors(file_car, tmp_path):
    car, root, _ = file_car
    r = tunasync("car", "extract", str(car), str(root), str(tmp_path / "x"), "--range", "9-3")
    assert r.returncode == 2 and "A-B" in r.stderr
    other = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    r = tunasync("car", "extract", str(car), other, str(tmp_path / "x"))
    assert r.returncode == 1 and f"block {other} needed for {other} is not in the CAR" in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.tmp").exists()
    r = tunasync("car", "extract", str(car), "not-a-cid", str(tmp_path / "x"))
    assert r.returncode == 2


@pytest.mark.node
def test_extract_a_directory_from_ipfs_car_output(oracle_dir, tmp_path):
    base = tmp_path / "d"
    (base / "s").mkdir(parents=True)
    (base / "s" / "one").write_bytes(b"1" * 3000)
    (base / "two").write_bytes(b"")
    root = ipfs_car(oracle_dir, "pack", str(base), "--output", str(tmp_path / "d.car")).strip()
    assert tunasync("car", "verify", str(tmp_path / "d.car")).returncode == 0
    r = tunasync("car", "extract", str(tmp_path / "d.car"), root, str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "s" / "one").read_bytes() == b"1" * 3000
    assert (tmp_path / "out" / "two").read_bytes() == b""
