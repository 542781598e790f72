"""`file_copies`: IPNI records tied to miners (Curio's own IPNI peer ID through its ContextID and the chain,
Boost's on-chain peer ID), unmapped peers reported and never counted, against the devnet."""

from __future__ import annotations

from tunasync.filecoin import census
from tunasync.filecoin.network import open_devnet

from .conftest import make_file


async def test_a_curio_peer_is_tied_to_its_miner_through_the_piece_and_the_claims(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "c.bin", 400_000)
    devnet.seed(f.car, [devnet.actor(0)], kind="ddo")  # a verified-registry claim, no deal ID to find
    ipni_peer = devnet.providers[0]["ipniPeerId"]
    net = await open_devnet(devnet.url, fast_http)
    try:
        assert await net.chain.actor_for_peer(ipni_peer) is None  # no chain state names Curio's IPNI key
        [pc] = await census.file_copies(net, f.root, providers=[devnet.actor(0)])
        assert pc.piece_cid == f.piece and pc.padded_size == f.padded_size
        assert pc.report.providers == [devnet.actor(0)] and pc.peers == {ipni_peer: devnet.actor(0)}
        assert pc.unmapped == []
        [pc] = await census.file_copies(net, f.root, providers=[])  # nobody's claims checked: no holder known
        assert pc.report.providers == [] and pc.peers == {} and pc.unmapped == [ipni_peer]
        [pc] = await census.file_copies(net, f.root, providers=[devnet.actor(0)], max_lookups=0)
        assert pc.report.providers == [devnet.actor(0)]  # the chain still counts the claim
        assert pc.peers == {} and pc.unmapped == [ipni_peer]  # out of budget: reported, not guessed
    finally:
        await net.close()


async def test_curio_and_boost_peers_of_one_piece(devnet_factory, tmp_path, fast_http):
    devnet = devnet_factory("--provider-kind", "curio,boost,curio")
    f = make_file(tmp_path, "m.bin", 900_000)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    devnet.fault(devnet.actor(2), "never_seal")
    devnet.seed(f.car, [devnet.actor(2)], state="published")  # announced, but no sealed copy
    p = devnet.providers
    net = await open_devnet(devnet.url, fast_http)
    try:
        [pc] = await census.file_copies(net, f.root)
        assert pc.report.providers == [p[0]["actor"], p[1]["actor"]]
        assert pc.peers == {p[0]["ipniPeerId"]: p[0]["actor"], p[1]["peerId"]: p[1]["actor"],
                            p[2]["ipniPeerId"]: p[2]["actor"]}  # tied, yet its copy does not count
        assert census.total_providers([pc]) == [p[0]["actor"], p[1]["actor"]]
    finally:
        await net.close()
