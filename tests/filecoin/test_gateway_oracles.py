"""Third-party clients against a devnet provider's trustless gateway (npm packages installed by
`./dev setup` into .cache/oracle, or TUNASYNC_ORACLE_DIR):

* `@helia/verified-fetch` (the IPFS project's verifying fetch) with the provider as its only gateway
  fetches a stored file, and a file by content path inside a stored bundle: the bytes must be the file.
* `@ipld/car` + `@ipld/dag-pb` + multiformats' sha256 read our CAR answers: every block hashes to its
  CID, the header root is the file's CID, the DAG walk is complete and the blocks come in the DFS
  pre-order our `order=dfs` label promises (with and without duplicates).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tunasync.content.car import write_bundle_car

from .conftest import REPO, make_file

pytestmark = pytest.mark.node
ORACLE_DIR = Path(os.environ.get("TUNASYNC_ORACLE_DIR", REPO / ".cache" / "oracle"))
PACKAGES = ("@helia/verified-fetch", "helia", "@helia/http", "@ipld/car", "@ipld/dag-pb", "multiformats")

# Node 20 lacks Promise.withResolvers (libp2p's queues use it); helia's routing asks its fallback
# (gateway) router only after the others finished, so one router that knows nobody lets it get there.
VERIFIED_FETCH = r"""
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((a, b) => { resolve = a; reject = b })
    return { promise, resolve, reject }
  }
}
const { createHeliaLight } = await import('helia')
const { withHTTP } = await import('@helia/http')
const { createVerifiedFetch } = await import('@helia/verified-fetch')
const { createHash } = await import('node:crypto')
const [gateway, resource] = process.argv.slice(-2)
const helia = withHTTP(await createHeliaLight(), {
  delegatedRouters: [], recursiveGateways: [gateway], allowInsecure: true, allowLocal: true
})
helia.addRouter({ name: 'nobody', async * findProviders () {} })
await helia.start()
const fetch = await createVerifiedFetch(helia)
const resp = await fetch(resource, { signal: AbortSignal.timeout(60000) })
const body = new Uint8Array(await resp.arrayBuffer())
console.log(JSON.stringify({ status: resp.status, size: body.length,
  sha256: createHash('sha256').update(body).digest('hex') }))
await fetch.stop()
"""

CAR_CHECK = r"""
import { readFile } from 'node:fs/promises'
import { CarBlockIterator } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'
import { CID } from 'multiformats/cid'
const [path, expectRoot] = process.argv.slice(-2)
const it = await CarBlockIterator.fromBytes(await readFile(path))
const roots = (await it.getRoots()).map(String)
const blocks = new Map()
const order = []
let badHash = 0
for await (const { cid, bytes } of it) {
  const digest = await sha256.digest(bytes)
  if (cid.multihash.code !== sha256.code || !equals(digest.bytes, cid.multihash.bytes)) badHash++
  blocks.set(String(cid), bytes)
  order.push(String(cid))
}
// the DAG from the expected root: DFS pre-order, every link followed, every block present
const walk = []
const missing = []
const stack = [expectRoot]
while (stack.length) {
  const c = stack.pop()
  const bytes = blocks.get(c)
  if (bytes === undefined) { missing.push(c); continue }
  walk.push(c)
  if (CID.parse(c).code === dagPb.code) {
    const node = dagPb.decode(bytes)
    for (let i = node.Links.length - 1; i >= 0; i--) stack.push(String(node.Links[i].Hash))
  }
}
console.log(JSON.stringify({ roots, blocks: order.length, badHash, order, walk, missing }))
"""


@pytest.fixture(scope="module")
def oracle() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the npm gateway clients cannot run")
    missing = [p for p in PACKAGES if not (ORACLE_DIR / "node_modules" / p / "package.json").is_file()]
    if missing:
        pytest.fail(f"npm packages {missing} missing in {ORACLE_DIR}: run ./dev setup")
    return ORACLE_DIR


def node(oracle: Path, script: str, *args: str, timeout: float = 120) -> dict:
    proc = subprocess.run(["node", "--input-type=module", "-e", script, "--", *args], cwd=oracle,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"node failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_verified_fetch_gets_stored_files_from_the_devnet_gateway(oracle, devnet, tmp_path):
    f = make_file(tmp_path, "vf.bin", 3 * (1 << 20) + 4321)
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "docs" / "readme.txt").write_bytes(b"read me\n" * 1000)
    bundle = write_bundle_car(str(site), ["docs/readme.txt"], str(tmp_path / "site.car"))
    devnet.seed(f.car, [devnet.actor(0)])
    devnet.seed(tmp_path / "site.car", [devnet.actor(0)])
    gw = devnet.providers[0]["url"]
    got = node(oracle, VERIFIED_FETCH, gw, f"ipfs://{f.root}")
    assert got == {"status": 200, "size": len(f.data), "sha256": hashlib.sha256(f.data).hexdigest()}
    want = (site / "docs" / "readme.txt").read_bytes()
    got = node(oracle, VERIFIED_FETCH, gw, f"ipfs://{bundle.root}/docs/readme.txt")
    assert got == {"status": 200, "size": len(want), "sha256": hashlib.sha256(want).hexdigest()}


def test_ipld_car_validates_our_car_answers(oracle, devnet, tmp_path):
    f = make_file(tmp_path, "c.bin", 5 * (1 << 20) + 99)
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(3 << 20))
    bundle = write_bundle_car(str(tmp_path), ["c.bin", "zeros.bin"], str(tmp_path / "b.car"))
    devnet.seed(tmp_path / "b.car", [devnet.actor(1)])
    gw = devnet.providers[1]["url"]
    for root in (f.root, bundle.files["zeros.bin"], bundle.root):
        for dups in ("y", "n"):
            req = urllib.request.Request(f"{gw}/ipfs/{root}?format=car&dag-scope=all&car-dups={dups}",
                                         headers={"Accept": "application/vnd.ipld.car"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                ctype = resp.headers["Content-Type"]
                (tmp_path / "answer.car").write_bytes(resp.read())
            assert ctype == f"application/vnd.ipld.car; version=1; order=dfs; dups={dups}"
            got = node(oracle, CAR_CHECK, str(tmp_path / "answer.car"), str(root))
            assert got["roots"] == [str(root)] and got["badHash"] == 0 and got["missing"] == []
            if dups == "y":
                assert got["order"] == got["walk"]  # the walk met the blocks exactly in the CAR's order
            else:
                first = list(dict.fromkeys(got["walk"]))  # each block once, at its first place in the walk
                assert got["order"] == first and len(got["order"]) == len(set(got["order"]))
