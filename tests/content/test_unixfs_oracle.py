"""Property tests against the npm reference encoders: @ipld/unixfs (tests/data/vectors/unixfs.mjs) and ipfs-car.

Random content, sizes around every boundary of each profile (chunk ± 1, links-per-node × chunk ± 1).
The ipfs-car profile's width × chunk is 1 GiB: that boundary is covered by the fixed 1 GiB + 1 vector.
"""

from __future__ import annotations

import random

import pytest

from tests.content.content_helpers import ipfs_car, run_node
from tunasync.content.car import write_file_car
from tunasync.content.carread import iter_car
from tunasync.content.unixfs import PROFILES, file_cid

pytestmark = pytest.mark.node
SEED = random.randrange(1 << 30)


def _sizes(profile: str, rng: random.Random) -> list[int]:
    p = PROFILES[profile]
    cs = p.chunk_size
    sizes = [0, rng.randint(1, cs - 2), cs - 1, cs, cs + 1, 2 * cs + rng.randint(1, cs)]
    if p.width * cs < 64 << 20:
        sizes += [p.width * cs - 1, p.width * cs, p.width * cs + 1]
    return sizes


@pytest.mark.parametrize("profile", list(PROFILES))
def test_random_files_at_every_boundary_match_ipld_unixfs(profile, oracle_dir, data_dir, tmp_path):
    script = (data_dir / "vectors" / "unixfs.mjs").read_text()
    rng = random.Random(f"{SEED}-{profile}")
    for size in _sizes(profile, rng):
        path = tmp_path / f"r{size}"
        path.write_bytes(rng.randbytes(size))
        theirs = run_node(oracle_dir, script, "unixfs.mjs", profile, str(path)).strip()
        assert str(file_cid(str(path), profile).cid) == theirs, f"seed {SEED}, {profile}, size {size}"
        path.unlink()


def test_ipfs_car_pack_root_and_blocks_equal_ours(oracle_dir, tmp_path):
    rng = random.Random(f"{SEED}-car")
    for size in (0, 1, (1 << 20) + 1, rng.randint(2 << 20, 6 << 20)):
        src = tmp_path / f"f{size}"
        src.write_bytes(rng.randbytes(size))
        theirs_car = tmp_path / "theirs.car"
        theirs = ipfs_car(oracle_dir, "pack", "--no-wrap", str(src), "--output", str(theirs_car)).strip()
        ours = write_file_car(str(src), str(tmp_path / "ours.car"))
        assert str(ours.root) == theirs, f"seed {SEED}, size {size}"
        their_blocks = iter_car(theirs_car.read_bytes())  # our reader verifies every block of theirs
        assert their_blocks.roots == [ours.root]
        assert sorted(c.bytes for c, _ in their_blocks) == sorted(c.bytes for c, _ in iter_car((tmp_path / "ours.car").read_bytes()))
        assert (tmp_path / "ours.car").stat().st_size == theirs_car.stat().st_size  # same blocks, DFS order
