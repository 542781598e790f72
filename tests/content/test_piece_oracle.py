"""Property tests against @web3-storage/data-segment (the npm reference, driven by
tests/data/vectors/piece.mjs).

Random sizes around 127·2^k ± 1 (k ≤ 17) with random content, on the default core and the
pure-Python fallback. One node process answers for every file (the reference runs ≈ 6 MB/s).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tunasync.content import commp_py, piece

pytestmark = pytest.mark.node

# Our driver of the reference (also what tests/data/make_vectors.py runs): one JSON line per file.
PIECE_MJS = Path(__file__).resolve().parent.parent / "data" / "vectors" / "piece.mjs"


@pytest.fixture(scope="module")
def seed() -> int:
    return int(os.environ.get("TUNASYNC_TEST_SEED", random.SystemRandom().randrange(1 << 32)))


def _oracle(oracle_dir, tmp_path, paths):
    if not (oracle_dir / "node_modules" / "@web3-storage" / "data-segment").is_dir():
        pytest.skip("@web3-storage/data-segment is not installed in the oracle directory (./dev setup)")
    work = tmp_path / "oracle"
    work.mkdir()
    (work / "node_modules").symlink_to(oracle_dir / "node_modules")  # ES modules resolve next to the script
    (work / "piece.mjs").write_text(PIECE_MJS.read_text())
    proc = subprocess.run(
        ["node", str(work / "piece.mjs"), *map(str, paths)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return [{"v2": r["v2"], "v1": r["v1"], "size": r["padded_size"], "height": r["height"], "padding": r["padding"]}
            for r in lines]


def test_random_payloads_match_data_segment(oracle_dir, tmp_path, seed):
    rng = random.Random(seed)
    sizes = [0, 1, 65]
    for k in (0, 1, 2, 3, 5, 7, 9, 11, 13, 15, 17):
        sizes.append((127 << k) + rng.choice((-1, 0, 1)))
    sizes += [rng.randrange(1, 127 << 12) for _ in range(3)]
    paths = []
    for i, n in enumerate(sizes):
        p = tmp_path / f"payload-{i}.bin"
        p.write_bytes(rng.randbytes(n))
        paths.append(p)
    want = _oracle(oracle_dir, tmp_path, paths)
    for p, n, ref in zip(paths, sizes, want, strict=True):
        info = piece.piece_of_file(p, workers=2)
        got = {"v2": str(info.v2), "v1": str(info.v1), "size": info.padded_size, "height": info.height,
               "padding": info.padding}
        assert got == ref, f"seed {seed} (TUNASYNC_TEST_SEED): {n} random bytes, native={piece.NATIVE}"
        if n <= 127 << 13:  # the fallback too, on the sizes it does quickly
            root = commp_py.root(p.read_bytes(), info.height)
            assert root == info.root, f"seed {seed}: pure-Python core differs on {n} bytes"
