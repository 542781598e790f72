"""kubo's own file vectors (docs/cid.md §1.7; https://github.com/ipfs/kubo test/cli/cid_profiles_test.go) on kubo-rand input.

kubo-rand N SEED = the first N bytes of the ChaCha20 keystream, key sha256(SEED), zero nonce. Python
has no ChaCha20 without a new dependency, so node's crypto makes the stream and pipes it straight into
the streaming builder (nothing on disk). The two 1 GiB rows take 1.5–3 s each here (marked slow);
TUNASYNC_SKIP_BIG_VECTORS=1 skips them.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tunasync.content.unixfs import FileBuilder

pytestmark = pytest.mark.node

KEYSTREAM = """
import { createCipheriv, createHash } from 'node:crypto'
const [seed, n] = process.argv.slice(1)
const c = createCipheriv('chacha20', createHash('sha256').update(seed, 'utf8').digest(), Buffer.alloc(16))
let left = Number(n)
const zero = Buffer.alloc(1 << 20)
function pump () {
  while (left > 0) {
    const k = Math.min(left, zero.length)
    left -= k
    if (!process.stdout.write(c.update(zero.subarray(0, k)))) { process.stdout.once('drain', pump); return }
  }
}
pump()
"""

MIB = 1 << 20
BIG = [pytest.mark.slow, pytest.mark.skipif(bool(os.environ.get("TUNASYNC_SKIP_BIG_VECTORS")),
                                            reason="TUNASYNC_SKIP_BIG_VECTORS is set: 1 GiB rows skipped")]

VECTORS = [
    ("kubo", 262144, "chunk-v0-seed", "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE"),
    ("kubo", 262145, "chunk-v0-seed", "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ"),
    ("kubo", 174 * 262144, "v0-seed", "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"),
    ("kubo", 174 * 262144 + 1, "v0-seed", "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"),
    ("ipfs-car", MIB, "chunk-v1-seed", "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta"),
    ("ipfs-car", MIB + 1, "chunk-v1-seed", "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"),
    pytest.param("ipfs-car", 1024 * MIB, "v1-2025-seed", "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm",
                 marks=BIG),
    pytest.param("ipfs-car", 1024 * MIB + 1, "v1-2025-seed",
                 "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe", marks=BIG),
]


@pytest.mark.parametrize("profile, size, seed, expected", VECTORS)
def test_kubo_rand_vectors(oracle_dir, profile, size, seed, expected):
    proc = subprocess.Popen(["node", "--input-type=module", "-e", KEYSTREAM, "--", seed, str(size)],
                            cwd=oracle_dir, stdout=subprocess.PIPE)
    builder = FileBuilder(profile, keep_blocks=False)
    assert proc.stdout is not None
    while chunk := proc.stdout.read(MIB):
        builder.update(chunk)
    assert proc.wait(timeout=120) == 0
    dag = builder.finish()
    assert (str(dag.root), dag.size) == (expected, size)
