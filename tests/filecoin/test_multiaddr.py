"""Multiaddrs as real peers publish them: both forms, every protocol of the table, the HTTP URL each one
stands for, and an unreadable one skipped (logged once, counted) instead of dropping the miner.

Sources of the fixtures (facts copied, named per test):
  multiformats/go-multiaddr multiaddr_test.go   TestStringToBytes, TestConstructFails, `good`, TestRoundTrip,
                                                TestIPFSvP2P, TestInvalidP2PAddrBytes, TestHTTPPath
  multiformats/multiaddr protocols/httppath.md  the http-path examples table
  ipni/go-libipni maurl/convert_test.go         TestTLSProtos (multiaddr → URL)
  libp2p/specs http/transport-component.md      "Multiaddr representation" examples
  filecoin-project/curio lib/urlhelper/external.go (GetExternalLibp2pAddr / GetExternalHTTPAddr: the
      on-chain `/dns/<domain>/tcp/443/wss` and the IPNI `/dns/<domain>/tcp/443/https`) and
      cmd/sptool/toolbox_deal_client.go (its client turns ws → http, wss → https for HTTP deals)
  filecoin-project/boost node/config/doc_gen.go  HTTPRetrievalMultiaddr "/dns/foo.com/tcp/443/https"
  filecoin-project/lotus documentation/en/api-methods-v1-stable.md  StateMinerInfo example response
      (tests/data/filecoin/lotus_StateMinerInfo.json; its Multiaddrs entry is base64 of "byte array")
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from tunasync.filecoin import multiaddr
from tunasync.filecoin.http import Http
from tunasync.filecoin.ipni import parse_record
from tunasync.filecoin.lotus import LotusChainObserver, LotusClient
from tunasync.filecoin.retriever import VerifiedRetriever, provider_candidates

from .conftest import make_file

DATA = Path(__file__).resolve().parents[1] / "data" / "filecoin"
PEER = "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"  # go-multiaddr `good`


def skipped(source: str) -> float:
    return REGISTRY.get_sample_value("tunasync_filecoin_skipped_addrs_total", {"source": source}) or 0.0


# -- the two forms --------------------------------------------------------------------------------------
# go-multiaddr TestStringToBytes / TestBytesToString
GO_PAIRS = [
    ("/ip4/127.0.0.1/udp/1234", "047f000001910204d2"),
    ("/ip4/127.0.0.1/tcp/4321", "047f0000010610e1"),
    ("/ip4/127.0.0.1/udp/1234/ip4/127.0.0.1/tcp/4321", "047f000001910204d2047f0000010610e1"),
    ("/onion/aaimaq4ygg2iegci:80", "bc030010c0439831b48218480050"),
    ("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
     "bd03adadec040be047f9658668b11a504f3155001f231a37f54c4476c07fb4cc139ed7e30304d2"),
]


@pytest.mark.parametrize(("text", "hexed"), GO_PAIRS)
def test_go_multiaddr_text_binary_pairs(text, hexed):
    assert multiaddr.to_bytes(text).hex() == hexed
    assert multiaddr.from_bytes(bytes.fromhex(hexed)) == text
    assert multiaddr.parse_lotus(base64.b64encode(bytes.fromhex(hexed)).decode()) == text


def test_every_protocol_family_round_trips():
    # go-multiaddr `good` and TestRoundTrip: each must be read, and the binary form must give it back
    for text in ("/ip4/192.0.2.0/ipcidr/24", "/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21/udp/1234/quic-v1",
                 "/ip6zone/x%y/ip6/fe80::1", "/dns/example.com/tcp/443/wss", "/dns4/a.b/tcp/1/ws",
                 "/dns6/a.b/tcp/1/http", "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/"
                 "uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g", "/ip4/127.0.0.1/tcp/127/tls/ws",
                 "/ip4/127.0.0.1/tcp/127/noise", "/ip4/127.0.0.1/tcp/127/webrtc-direct",
                 "/ip4/127.0.0.1/tcp/9090/http/p2p-webrtc-direct", "/udp/1234/utp", "/sctp/1234",
                 "/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP/unix/a/b/c", "/unix/a/b/c/d",
                 f"/ip4/127.0.0.1/tcp/0/p2p/{PEER}/http-path/foo",
                 "/ip4/127.0.0.1/tcp/443/tls/sni/example.com/http/http-path/foo",
                 "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzuq", "/memory/4",
                 f"/dns/relay.example/tcp/443/wss/p2p/{PEER}/p2p-circuit"):
        assert multiaddr.from_bytes(multiaddr.to_bytes(text)) == text, text


def test_peer_ids_in_every_text_form_become_the_same_bytes():
    # go-multiaddr `good` + TestIPFSvP2P: base58btc, base36 / base32 CIDs (libp2p-key), and the old /ipfs/
    qm = "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"
    for alt in ("/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC",
                "/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7",
                "/p2p/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm"):
        assert multiaddr.canonical(alt) == qm
    for alt in ("/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs",
                "/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u"):
        assert multiaddr.canonical(alt) == f"/p2p/{PEER}"
    # binary: varint length, then the multihash (identity multihash of an Ed25519 key here)
    raw = multiaddr.to_bytes(f"/p2p/{PEER}")
    assert raw[:2] == bytes.fromhex("a503") and raw[2] == len(raw) - 3 and raw[3:5] == b"\x00\x24"


def test_http_path_values():
    # multiformats/multiaddr protocols/httppath.md examples: the text form is one percent-encoded segment
    for path, text in (("user", "user"), ("api/v0/login", "api%2Fv0%2Flogin"),
                       ("tmp/foo/../bar", "tmp%2Ffoo%2F..%2Fbar"), ("a%20space", "a%2520space"),
                       ("a%2Fslash", "a%252Fslash")):
        raw = multiaddr.to_bytes(f"/http-path/{text}")
        assert raw.endswith(path.encode()) and multiaddr.from_bytes(raw) == f"/http-path/{text}"


@pytest.mark.parametrize("bad", [
    # go-multiaddr TestConstructFails
    "/ip4", "/ip4/::1", "/ip4/fdpsofodsajfdoisa", "/ip4/::/ipcidr/256", "/udp/65536", "/tcp/65536",
    "/quic-v1/65536", "/onion/9imaq4ygg2iegci7:80", "/onion/timaq4ygg2iegci7:0", "/onion/timaq4ygg2iegci7",
    "/ip4/127.0.0.1/quic-v1/1234", "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash",
    "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/b2uaraocy6yrdblb4sfptaddgimjmmp",
    "/ip4/127.0.0.1/p2p", "/ip4/127.0.0.1/p2p/tcp", "/unix", "/ip4/1.2.3.4/tcp/-1",
    "/ip4/127.0.0.1/tcp/9090/http/p2p-webcrt-direct", "/", "",
    "/p2p/QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY",  # sha256 multihash with a 33-byte digest
    "/p2p/k2jmtxwoe2phm1hbqp0e7nufqf6umvuu2e9qd7ana7h411a0haqj6i2z",  # a CID that is not libp2p-key
    "/http-path/thisIsMissingAfullByte%f",  # TestHTTPPath "bad addr"
    "/quic/1",
])
def test_unreadable_text(bad):
    with pytest.raises(ValueError):
        multiaddr.to_bytes(bad)


def test_unreadable_bytes():
    for raw in (bytes.fromhex("a503221221c05877cbae039d70a5e600ea02c6f9f2942439285c9e344e26f8d280c850fad6"),
                b"byte array",  # the Lotus docs' placeholder: 0x62 is no protocol
                bytes.fromhex("047f00"), b""):  # truncated ip4; nothing at all
        with pytest.raises(ValueError):
            multiaddr.from_bytes(raw)
    with pytest.raises(ValueError):
        multiaddr.parse_lotus("!!!")


# -- HTTP URLs --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("addr", "url"), [
    # ours and the devnet's
    ("/ip4/127.0.0.1/tcp/14310/http", "http://127.0.0.1:14310"),
    ("/ip6/::1/tcp/80/http", "http://[::1]:80"),
    # Curio, on chain (GetExternalLibp2pAddr) and to IPNI (GetExternalHTTPAddr); Boost's HTTPRetrievalMultiaddr
    ("/dns/sp.example.org/tcp/443/wss", "https://sp.example.org:443"),
    ("/dns/sp.example.org/tcp/80/ws", "http://sp.example.org:80"),
    ("/dns/sp.example.org/tcp/443/https", "https://sp.example.org:443"),
    ("/dns/foo.com/tcp/443/https", "https://foo.com:443"),
    (f"/dns/sp.example.org/tcp/443/wss/p2p/{PEER}", "https://sp.example.org:443"),
    # TLS with SNI: the name is what we ask for
    ("/dns/sp.example.org/tcp/443/tls/sni/sp.example.org/http", "https://sp.example.org:443"),
    ("/ip4/1.2.3.4/tcp/443/tls/sni/example.com/http", "https://example.com:443"),
    ("/ip4/127.0.0.1/tcp/443/tls/sni/example.com/http/http-path/foo", "https://example.com:443/foo"),
    ("/dns/h.example/tcp/8443/tls/http/http-path/api%2Fv0", "https://h.example:8443/api/v0"),
    # libp2p/specs http/transport-component.md
    ("/dns/example.com/tls/http", "https://example.com"),
    ("/ip4/1.2.3.4/tcp/443/tls/http", "https://1.2.3.4:443"),
    ("/ip6/2001:db8:85a3::8a2e:370:7334/tcp/443/tls/http", "https://[2001:db8:85a3::8a2e:370:7334]:443"),
    ("/ip4/1.2.3.4/udp/50781/quic-v1/http", None),  # HTTP/3 only: not for our HTTP/1.1 client
    # go-libipni maurl TestTLSProtos (ws/wss read as the same server's http/https, as Curio's client does)
    ("/ip4/192.169.0.1/tls/http", "https://192.169.0.1"),
    ("/ip4/192.169.0.1/https", "https://192.169.0.1"),
    ("/ip4/192.169.0.1/http", "http://192.169.0.1"),
    ("/dns4/protocol.ai/tls/ws", "https://protocol.ai"),
    ("/dns4/protocol.ai/wss", "https://protocol.ai"),
    ("/dns4/protocol.ai/ws", "http://protocol.ai"),
    # readable, but no HTTP endpoint
    ("/ip4/1.2.3.4/tcp/24001", None),
    ("/ip4/1.2.3.4/tcp/24001/p2p/" + PEER, None),
    ("/ip4/1.2.3.4/udp/24001/quic-v1", None),
    ("/ip4/1.2.3.4/udp/1234/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g", None),
    (f"/dns/relay.example/tcp/443/wss/p2p/{PEER}/p2p-circuit", None),
    ("/dnsaddr/bootstrap.libp2p.io", None),
    ("/unix/tmp/x", None),
])
def test_http_urls(addr, url):
    assert multiaddr.http_url(addr) == url


def test_old_code_rejected_curio_forms():
    """The forms the outside review found: the old reader rejected wss/sni/p2p/quic-v1 outright."""
    for text in ("/dns/sp.example.org/tcp/443/wss", "/dns/sp.example.org/tcp/443/tls/sni/sp.example.org/http",
                 f"/ip4/1.2.3.4/tcp/443/https/p2p/{PEER}", "/ip4/1.2.3.4/udp/1/quic-v1"):
        raw = multiaddr.to_bytes(text)
        assert multiaddr.parse_lotus(base64.b64encode(raw).decode()) == text


# -- skipping, logging once, counting -----------------------------------------------------------------------
def test_readable_skips_logs_once_and_counts(caplog):
    good = base64.b64encode(multiaddr.to_bytes("/dns/sp.example.org/tcp/443/wss")).decode()
    before = skipped("test-source")
    with caplog.at_level(logging.WARNING, "tunasync.filecoin"):
        for _ in range(3):
            got = multiaddr.readable(["Ynl0ZSBhcnJheQ==", None, good, "!!"], "test-source", "f0123")
            assert got == ["/dns/sp.example.org/tcp/443/wss"]
    assert skipped("test-source") == before + 9  # every skip counts
    lines = [r.getMessage() for r in caplog.records if "unreadable multiaddr" in r.getMessage()]
    assert len(lines) == 3  # ... but each address is logged once
    assert all("f0123" in m and "test-source" in m for m in lines)


def test_ipni_record_keeps_the_readable_addresses():
    rec = parse_record({"ContextID": "", "Metadata": "gBI=", "Provider": {"ID": PEER, "Addrs": [
        "/ip4/1.2.3.4/tcp/24001", "/dns/sp.example.org/tcp/443/https", "/garbage/1",
        "/dns/sp.example.org/tcp/443/wss", "/dns/sp2.example.org/tcp/443/tls/sni/sp2.example.org/http", 7]}})
    assert len(rec.addrs) == 4
    assert rec.http_urls() == ["https://sp.example.org:443", "https://sp2.example.org:443"]


# -- Lotus StateMinerInfo, real HTTP on loopback --------------------------------------------------------------
async def _lotus(answers: dict[str, dict]) -> tuple[web.AppRunner, str]:
    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        if body["method"] == "Filecoin.StateListMiners":
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": sorted(answers)})
        assert body["method"] == "Filecoin.StateMinerInfo"
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": answers[body["params"][0]]})

    app = web.Application()
    app.router.add_post("/rpc/v1", rpc)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/rpc/v1"


async def test_lotus_docs_example_and_real_node_shapes(fast_http):
    docs = json.loads((DATA / "lotus_StateMinerInfo.json").read_text())
    assert docs["Multiaddrs"] == ["Ynl0ZSBhcnJheQ=="]  # the docs' placeholder, base64 of "byte array"
    curio = dict(docs, PeerId=None, Multiaddrs=[
        base64.b64encode(b"byte array").decode(),
        base64.b64encode(multiaddr.to_bytes("/dns/sp.example.org/tcp/443/wss")).decode()])
    runner, url = await _lotus({"f01234": docs, "f05678": curio, "f09999": dict(docs, PeerId=PEER, Multiaddrs=None)})
    client = LotusClient(url, http=Http(fast_http))
    before = skipped("lotus.StateMinerInfo")
    try:
        info = await client.miner_info("f01234")  # the old reader: "malformed Multiaddrs", miner dropped
        assert info.peer_id == "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
        assert info.multiaddrs == [] and info.http_urls() == []
        info = await client.miner_info("f05678")  # the old reader: "malformed answer (no PeerId)"
        assert info.peer_id is None and info.actor == "f05678"
        assert info.multiaddrs == ["/dns/sp.example.org/tcp/443/wss"]
        assert info.http_urls() == ["https://sp.example.org:443"]
        assert (await client.miner_info("f09999")).multiaddrs == []  # Multiaddrs null
        assert skipped("lotus.StateMinerInfo") == before + 2
        obs = LotusChainObserver(client)
        # the peer map skips miners without a peer ID instead of failing
        assert await obs.actor_for_peer("12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf") == "f01234"
    finally:
        await client.http.close()
        await runner.cleanup()


# -- through the devnet process ---------------------------------------------------------------------------
async def test_devnet_miner_with_odd_addresses_still_retrieves(devnet, tmp_path, fast_http):
    """Fault `odd_addrs`: PeerId null, two unreadable Multiaddrs, a QUIC one, and the HTTP port only as /ws."""
    f = make_file(tmp_path, "odd.bin", 300_000)
    devnet.seed(f.car, [devnet.actor(2)])
    devnet.fault(devnet.actor(2), "odd_addrs")
    http = Http(fast_http)
    chain = LotusChainObserver(LotusClient(f"{devnet.url}/rpc/v1", http=http))
    before = skipped("lotus.StateMinerInfo")
    try:
        info = await chain.miner_info(devnet.actor(2))
        assert info.peer_id is None and len(info.multiaddrs) == 2
        assert skipped("lotus.StateMinerInfo") == before + 2
        cands = await provider_candidates(chain, [devnet.actor(2)], f.piece)
        url = f"http://127.0.0.1:{devnet.providers[2]['port']}"
        assert [c.url for c in cands] == [url]  # from /ip4/127.0.0.1/tcp/<port>/ws
        res = await VerifiedRetriever(http=http).fetch(f.root, tmp_path / "odd.out", candidates=cands)
        assert (tmp_path / "odd.out").read_bytes() == f.data and res.source == url
    finally:
        await http.close()


def test_serve_and_worker_metrics_export_the_counter():
    import types

    from tunasync.metrics import render
    from tunasync.serve.metrics import ServeMetrics
    from tunasync.worker.metrics import WorkerMetrics

    multiaddr.skipped("lotus.StateMinerInfo", "f0", "x", "test")
    serve = render(ServeMetrics().registry).decode()
    worker = render(WorkerMetrics(types.SimpleNamespace(name="w", jobs={})).registry).decode()  # type: ignore[arg-type]
    for text in (serve, worker):
        assert 'tunasync_filecoin_skipped_addrs_total{source="lotus.StateMinerInfo"}' in text
