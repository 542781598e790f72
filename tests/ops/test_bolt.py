"""The read-only bbolt reader against files written by an independent fixture writer."""

from __future__ import annotations

import fcntl
import struct

import pytest

from tunasync.manager.bolt import BoltError, BoltFile, read_buckets

from .bolt_fixture import BoltWriter, go_database, go_status


def write(tmp_path, data: bytes, name: str = "manager.db"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_small_go_database_with_inline_buckets(tmp_path):
    db = go_database({"w1": ["debian", "ubuntu"], "w2": ["debian"]})
    w = BoltWriter()
    data = w.build(db)
    f = BoltFile(data)
    # `workers` is small enough to live inline in the root page (bucket root pgid 0); three statuses
    # (> page_size/4) get a page of their own.
    assert struct.unpack_from("<Q", _bucket_value(f, b"workers"))[0] == 0
    assert struct.unpack_from("<Q", _bucket_value(f, b"mirror_status"))[0] >= 3
    got = read_buckets(write(tmp_path, data))
    assert got == db


def test_large_file_multi_level_branches(tmp_path):
    # 3000 statuses on 4 KiB pages: hundreds of leaves and two levels of branch pages.
    workers = {f"worker{i:02d}": [f"mirror-{j:04d}" for j in range(300)] for i in range(10)}
    db = go_database(workers)
    w = BoltWriter()
    data = w.build(db)
    assert len(data) > 200 * 4096
    f = BoltFile(data)
    got = f.read_all()
    assert len(got[b"mirror_status"]) == 3000
    assert got == db
    # The mirror_status bucket's root is a branch whose children are branches too.
    root = struct.unpack_from("<Q", _bucket_value(f, b"mirror_status"))[0]
    flags = struct.unpack_from("<H", data, root * 4096 + 8)[0]
    first_child = struct.unpack_from("<Q", data, root * 4096 + 16 + 8)[0]
    assert flags == 0x01 and struct.unpack_from("<H", data, first_child * 4096 + 8)[0] == 0x01


def _bucket_value(f: BoltFile, name: bytes) -> bytes:
    for _flags, key, value in f._walk(f.meta.root, set()):
        if key == name:
            return value
    raise KeyError(name)


def test_small_page_size_and_many_levels(tmp_path):
    db = go_database({"w": [f"m{i}" for i in range(200)]})
    data = BoltWriter(page_size=1024, max_per_page=4).build(db)
    assert BoltFile(data).meta.page_size == 1024
    assert read_buckets(write(tmp_path, data)) == db


def test_overflow_value(tmp_path):
    big = go_status("huge", "w", size="x" * 20000)
    db = {b"workers": {}, b"mirror_status": {b"a/w": go_status("a", "w"), b"huge/w": big, b"z/w": go_status("z", "w")}}
    data = BoltWriter().build(db)
    got = read_buckets(write(tmp_path, data))
    assert got[b"mirror_status"][b"huge/w"] == big
    assert got == db


def test_nested_buckets_inline_and_not(tmp_path):
    db = {
        b"outer": {
            b"inner-inline": {b"k": b"v"},
            b"inner-big": {f"key{i:03d}".encode(): b"v" * 100 for i in range(100)},
            b"deeper": {b"level2": {b"level3": {b"x": b"y"}}},
            b"plain": b"value",
        },
        b"empty": {},
    }
    data = BoltWriter().build(db)
    assert read_buckets(write(tmp_path, data)) == db
    assert BoltFile(BoltWriter(inline=False).build(db)).read_all() == db


def test_newest_valid_meta_wins_and_torn_meta_falls_back(tmp_path):
    new = go_database({"w": ["new-mirror"]})
    old = go_database({"w": ["old-mirror"]})
    data = bytearray(BoltWriter().build(new, older=old, txid=9))  # txid 9 on page 1, 8 on page 0
    assert BoltFile(bytes(data)).meta.txid == 9
    assert BoltFile(bytes(data)).read_all() == new
    data[4096 + 16 + 40] ^= 0xFF  # flip a byte of page 1's meta: checksum now wrong
    f = BoltFile(bytes(data))
    assert f.meta.txid == 8 and f.read_all() == old


def test_meta_page_0_broken_still_finds_page_1(tmp_path):
    db = go_database({"w": ["m"]})
    data = bytearray(BoltWriter(page_size=8192).build(db, txid=5))  # txid 5 -> page 1 is newest
    data[16:20] = b"\0\0\0\0"  # destroy page 0's magic: page size must be found another way
    f = BoltFile(bytes(data))
    assert f.meta.page_size == 8192 and f.read_all() == db


@pytest.mark.parametrize("damage,message", [
    (lambda d: d[:40], "too short"),
    (lambda d: d[:100], "truncated: 100 bytes"),
    (lambda d: b"\0" * len(d), "no valid meta page"),
    (lambda d: d[:5 * 4096], "truncated"),
])
def test_corrupt_files_give_clear_errors(tmp_path, damage, message):
    db = go_database({"w": [f"m{i}" for i in range(100)]})
    data = BoltWriter().build(db)
    p = write(tmp_path, damage(data))
    with pytest.raises(BoltError, match=message) as ei:
        read_buckets(p)
    assert str(p) in str(ei.value)


def test_corrupt_data_page_names_the_page(tmp_path):
    db = go_database({"w": [f"m{i}" for i in range(100)]})
    data = bytearray(BoltWriter().build(db))
    data[5 * 4096 + 8] = 0x04  # page 5 claims to be a meta page
    with pytest.raises(BoltError, match="page 5: expected a branch or leaf page"):
        BoltFile(bytes(data), "x.db").read_all()
    data = bytearray(BoltWriter().build(db))
    struct.pack_into("<Q", data, 4 * 4096, 99)  # wrong page id in the header
    with pytest.raises(BoltError, match="page 4: page header says it is page 99"):
        BoltFile(bytes(data), "x.db").read_all()


def test_not_a_bolt_file(tmp_path):
    p = write(tmp_path, b"SQLite format 3\0" + b"\0" * 8192)
    with pytest.raises(BoltError, match="no valid meta page.*bad magic"):
        read_buckets(p)
    with pytest.raises(BoltError, match="cannot open"):
        read_buckets(tmp_path / "missing.db")


def test_locked_by_go_manager(tmp_path):
    p = write(tmp_path, BoltWriter().build(go_database({"w": ["m"]})))
    with open(p, "rb+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # what bbolt does while the Go manager runs
        with pytest.raises(BoltError, match="stop the Go manager"):
            read_buckets(p)
    assert read_buckets(p)[b"workers"]


def test_newest_meta_on_page_0():
    new, old = go_database({"w": ["new"]}), go_database({"w": ["old"]})
    f = BoltFile(BoltWriter().build(new, older=old, txid=8))  # txid 8 lives on page 0
    assert f.meta.txid == 8 and f.read_all() == new


def test_random_corruption_never_escapes_as_another_error():
    """Flip bytes anywhere: the reader returns data or raises BoltError, nothing else (no IndexError...)."""
    import random

    rng = random.Random(20241125)
    db = go_database({"w1": [f"m{i}" for i in range(150)], "w2": ["a", "b"]})
    db[b"nested"] = {b"inner": {b"k": b"v" * 3000}, b"tiny": {b"x": b"y"}}
    pristine = BoltWriter(page_size=1024).build(db)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        try:
            BoltFile(bytes(data), "fuzz.db").read_all()
            outcomes["ok"] += 1
        except BoltError as exc:
            assert "fuzz.db" in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 50  # most damage is noticed
