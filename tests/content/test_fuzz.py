"""Mutated CARs: readers raise CarError/VerifyError (never another exception), and a verifier that
succeeds has produced exactly the original bytes. A tiny profile makes deep trees from small inputs."""

from __future__ import annotations

import random

import pytest

from tunasync.content import verify
from tunasync.content.car import write_file_car
from tunasync.content.carread import CarIndex, iter_car
from tunasync.content.extract import extract
from tunasync.content.unixfs import Profile
from tunasync.content.verify import DfsVerifier, Release, first_bad
from tunasync.errors import ContentError

TINY = Profile("tiny", 1, 64, 3, True, "entries")  # 64-byte chunks, 3 links per node: 4 levels for 3 KiB
TINY_V0 = Profile("tiny-v0", 0, 64, 3, False, "links-bytes")


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "insert", "delete", "dup"])
    i = rng.randrange(len(b))
    if kind == "flip":
        b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del b[i:]
    elif kind == "insert":
        b[i:i] = rng.randbytes(rng.randint(1, 4))
    elif kind == "delete":
        del b[i : i + rng.randint(1, 4)]
    else:
        j = rng.randrange(len(b))
        b[i:i] = b[j : j + rng.randint(1, 40)]
    return bytes(b)


@pytest.mark.parametrize("profile", [TINY, TINY_V0], ids=["raw-leaves", "dag-pb-leaves"])
def test_mutated_cars_fail_cleanly(tmp_path, profile, monkeypatch):
    monkeypatch.setattr(verify, "DEFER_MIN", 0)  # every raw leaf takes the deferred-hash path below
    rng = random.Random(11)
    src = rng.randbytes(3000)
    (tmp_path / "src").write_bytes(src)
    info = write_file_car(str(tmp_path / "src"), str(tmp_path / "ok.car"), profile)
    good = (tmp_path / "ok.car").read_bytes()
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        bad = mutate(good, rng)
        # 1. the streaming reader
        try:
            list(iter_car(bad))
        except ContentError:
            pass
        # 2. the DFS verifier: success only with the exact original bytes
        v = DfsVerifier(info.root)
        try:
            out = b""
            for k in range(0, len(bad), 97):
                out += b"".join(c for _, c in v.feed(bad[k : k + 97]))
            v.finish()
            assert out == src
            outcomes["ok"] += 1
            sync_ok = True
        except ContentError:
            outcomes["error"] += 1
            sync_ok = False
        # 2b. hashes deferred: what first_bad clears is a prefix of the original; same verdict as 2.
        v = DfsVerifier(info.root)
        rel: list[Release] = []
        try:
            for k in range(0, len(bad), 97):
                v.push(bad[k : k + 97], rel, defer=True)
            v.finish()
            done = True
        except ContentError:
            done = False
        bad_at = first_bad(rel)
        cleared = b"".join(p for r in rel[:bad_at] for p in r.parts)
        assert src.startswith(cleared)
        assert (done and bad_at is None) == sync_ok
        assert not sync_ok or cleared == src
        # 3. indexing + extraction: never a wrong file under the final name
        (tmp_path / "bad.car").write_bytes(bad)
        out_path = tmp_path / "out"
        try:
            with CarIndex.open(str(tmp_path / "bad.car")) as ix:
                extract(lambda c, ix=ix: ix.get(c, verify=False), info.root, str(out_path))
            assert out_path.read_bytes() == src
            out_path.unlink()
        except (ContentError, KeyError):
            assert not out_path.exists() and not (tmp_path / "out.tmp").exists()
    assert outcomes["error"] > 300  # nearly every mutation is caught; the rest hit the (ignored) header roots
