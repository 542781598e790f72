"""`tunasync devnet --scale mainnet`: thousands of miners, a million deals, 100,000 claims per listening
provider, `StateMarketDeals` refused as a Lotus gateway refuses it, and what copy counting costs there.

The gateway's refusal: Lotus' gateway API (filecoin-project/lotus api/api_gateway.go @ b835fab7) has no
StateMarketDeals, so go-jsonrpc answers "method 'Filecoin.StateMarketDeals' not found", -32601, HTTP 500.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunasync.filecoin import census
from tunasync.filecoin.http import Http
from tunasync.filecoin.lotus import LotusChainObserver, LotusClient
from tunasync.filecoin.network import open_devnet
from tunasync.filecoin.singularity import SingularityBackend

from .conftest import make_file
from .test_rpc_contract import rpc
from .test_singularity import car_server, piece_ref, wait_for  # noqa: F401 (car_server is a fixture)

CLAIMS = 100_000
BUDGET_CALLS = 20
BUDGET_BYTES = 1 << 20


@pytest.fixture
def mainnet(devnet_factory):
    return devnet_factory("--scale", "mainnet", name="mainnet")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def tunasync(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tunasync.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def test_mainnet_chain_is_big_and_derived(mainnet):
    info = mainnet.get("/admin/info")
    assert info["scale"] == "mainnet" and info["miners"] == 5000 and len(info["providers"]) == 3
    status, body = rpc(mainnet.url, "Filecoin.StateMarketDeals", [None])
    assert status == 500 and body["error"] == {"code": -32601, "message": "method 'Filecoin.StateMarketDeals' not found"}
    _, miners = rpc(mainnet.url, "Filecoin.StateListMiners", [None])
    assert len(miners["result"]) == 5000 and len(set(miners["result"])) == 5000
    assert miners["result"][:3] == ["f01000", "f01001", "f01002"]
    _, chain_only = rpc(mainnet.url, "Filecoin.StateMinerInfo", [miners["result"][-1], None])
    assert chain_only["result"]["PeerId"].startswith("12D3KooW") and chain_only["result"]["Multiaddrs"] is None
    _, deal = rpc(mainnet.url, "Filecoin.StateMarketStorageDeal", [1_000_000, None])
    prop = deal["result"]["Proposal"]
    assert prop["PieceCID"]["/"].startswith("baga") and prop["Provider"] in miners["result"][3:]
    _, sector = rpc(mainnet.url, "Filecoin.StateSectorGetInfo", [prop["Provider"], deal["result"]["State"]["SectorNumber"], None])
    assert sector["result"] is not None
    _, missing = rpc(mainnet.url, "Filecoin.StateMarketStorageDeal", [1_000_001, None])
    assert missing["error"]["code"] == 1  # the devnet's own deals start above the synthetic million
    _, claims = rpc(mainnet.url, "Filecoin.StateGetClaims", ["f01001", None])
    assert len(claims["result"]) == CLAIMS
    one = next(iter(claims["result"].items()))
    _, claim = rpc(mainnet.url, "Filecoin.StateGetClaim", ["f01001", int(one[0]), None])
    assert claim["result"] == one[1]
    stats = mainnet.get("/admin/rpc")["methods"]
    assert stats["Filecoin.StateGetClaims"]["bytes"] > 10_000_000  # ~21 MB, as a big mainnet provider's list
    # derived, not stored: a million deals and 300,000 claims cost the process little memory
    assert rss_kib(mainnet.proc.pid) < 300_000


async def test_claim_list_is_fetched_once_per_run_and_reported(mainnet):
    obs = LotusChainObserver(LotusClient(f"{mainnet.url}/rpc/v1", http=Http()))
    try:
        first = await obs.provider_claims("f01000")
        again = await obs.provider_claims("t01000")
        assert first is again and first.size == CLAIMS
        st = obs.claim_lists["f01000"]
        assert st["claims"] == CLAIMS and st["bytes"] > 10_000_000 and st["seconds"] > 0
        assert obs.client.stats["Filecoin.StateGetClaims"][0] == 1
        assert mainnet.get("/admin/rpc")["methods"]["Filecoin.StateGetClaims"]["calls"] == 1
    finally:
        await obs.close()


async def test_copy_check_of_our_piece_stays_within_budget(mainnet, tmp_path, car_server):  # noqa: F811
    """A copy check of one of our pieces, deal and claim IDs from the storage backend: at most 20 RPC calls
    and 1 MiB of RPC answers on a chain with 1,000,000 deals and 100,000 claims per provider."""
    cars, base = car_server
    f = make_file(tmp_path, "ours.bin", 150_000)
    cars[str(f.piece)] = f.car
    http = Http()
    market = SingularityBackend(f"{mainnet.url}/api", [mainnet.actor(0), mainnet.actor(1)], http=http, start_delay="1h")
    ddo = SingularityBackend(f"{mainnet.url}/api", [mainnet.actor(2)], http=http, start_delay="1h", deal_type="ddo",
                             verified=True)
    net = await open_devnet(mainnet.url)
    try:
        await market.offer(piece_ref(f, base), 2)
        await ddo.offer(piece_ref(f, base), 1)

        async def all_named():
            ds = await market.deals(f.piece)
            ok = len(ds) == 3 and all(d.state == "active" and (d.deal_id or d.claim_id) for d in ds)
            return ds if ok else None

        deals = await wait_for(all_named, 60, "2 active deals and 1 DDO claim")
        assert sorted(d.deal_id is None for d in deals) == [False, False, True]
        mainnet.post("/admin/rpc/reset", {})
        results = await census.piece_copies(net, f.piece, f.padded_size)
        used = mainnet.get("/admin/rpc")
        assert results[0].report.providers == [mainnet.actor(0), mainnet.actor(1), mainnet.actor(2)]
        assert any("StateMarketDeals" in n for n in results[0].notes)
        print(f"\ncopy check on mainnet scale: {used['calls']} RPC calls, {used['bytes']} bytes: "
              f"{json.dumps(used['methods'])}")
        assert used["calls"] <= BUDGET_CALLS and used["bytes"] <= BUDGET_BYTES, used
        assert "Filecoin.StateGetClaims" not in used["methods"] and "Filecoin.StateListMiners" not in used["methods"]
    finally:
        await net.close()
        await http.close()


def _filecoin_conf(tmp_path: Path, url: str, providers: list[str] | None) -> Path:
    conf = tmp_path / "worker.conf"
    lines = ["[archive]", 'network = "filecoin"', f'lotus_url = "{url}/rpc/v1"', f'ipni_url = "{url}"']
    if providers is not None:
        lines.append(f"providers = {json.dumps(providers)}")
    conf.write_text("\n".join(lines) + "\n")
    return conf


def test_copies_c_uses_configured_providers_claims(mainnet, tmp_path):
    """Fails on the old CLI: `[archive] providers` were ignored, so a DDO copy was a silent "copies": 0."""
    f = make_file(tmp_path, "ddo.bin", 40_000)
    seeded = mainnet.seed(f.car, [mainnet.actor(1)], kind="ddo")
    assert seeded["claims"]
    conf = _filecoin_conf(tmp_path, mainnet.url, [mainnet.actor(1)])
    r = tunasync("filecoin", "copies", "-c", str(conf), "--json", str(f.piece))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["copies"] == 1 and doc["providers"] == [mainnet.actor(1)]
    assert doc["pieces"][0]["paddedSize"] == f.padded_size  # learned from the claim
    assert doc["claimLists"][mainnet.actor(1)]["claims"] == CLAIMS + 1
    assert any("Filecoin.StateMarketDeals" in n and "-32601" in n for n in doc["notes"])
    assert mainnet.get("/admin/rpc")["methods"]["Filecoin.StateGetClaims"]["calls"] == 1
    # without --json the claim list's size is printed too
    r = tunasync("filecoin", "copies", "-c", str(conf), str(f.piece))
    assert r.returncode == 0 and f"claim list of {mainnet.actor(1)}: {CLAIMS + 1} claims" in r.stderr


def test_copies_c_on_a_gateway_without_providers_is_an_error_not_zero(mainnet, tmp_path):
    """Fails on the old CLI: it printed "copies": 0 and exit 0."""
    f = make_file(tmp_path, "nobody.bin", 10_000)
    conf = _filecoin_conf(tmp_path, mainnet.url, None)
    r = tunasync("filecoin", "copies", "-c", str(conf), "--json", str(f.piece))
    assert r.returncode != 0 and r.stdout == ""
    assert f"{mainnet.url}/rpc/v1" in r.stderr and "Filecoin.StateMarketDeals" in r.stderr
    assert "[archive] providers" in r.stderr
