"""IPNI: the metadata codec against go-libipni's bytes, the spec's example answers, records as Curio and
Boost write them, bad records skipped (logged once, counted), and the devnet's provider kinds."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tunasync.content import dagcbor as cbor
from tunasync.content.cid import CID
from tunasync.content.piece import PieceInfo, v1_to_v2
from tunasync.errors import NetworkError
from tunasync.filecoin.http import Http
from tunasync.filecoin.ipni import (
    BITSWAP,
    GRAPHSYNC,
    HTTP_GATEWAY,
    PIECE_HTTP,
    IpniClient,
    decode_metadata,
    encode_metadata,
    parse_answer,
    piece_from_context_id,
)
from tunasync.metrics import render

from .conftest import make_file

DATA = Path(__file__).resolve().parents[1] / "data" / "ipni"
PIECE = CID.decode("baga6ea4seaqbyafx5e5lzyqq2upjo5j4ziulp6phikah6p7ujgv2cmqrkxcqepq")
URL = "https://indexer.example/cid/bafy"


# -- go-libipni's metadata bytes -------------------------------------------------------------------
# ipni/go-libipni metadata/ipfs_trustless_gateway.go: ToUvarint(0x0920) followed by ToUvarint(0)
GATEWAY_BYTES = bytes.fromhex("a01200")
# ipni/go-libipni metadata/filecoin_piece.go: ToUvarint(0x0930) followed by ToUvarint(0)
PIECE_BYTES = bytes.fromhex("b01200")
# ipni/go-libipni metadata/bitswap.go (and bitswap_test.go): ToUvarint(0x0900), nothing after it
BITSWAP_BYTES = bytes.fromhex("8012")
# ipni/go-libipni metadata/metadata_test.go makeUnknownData(Libp2pRelayRsvp = 0x0302): code, uvarint
# length 5, "hello"; the test appends bitswap and expects both to decode without error
UNKNOWN_THEN_BITSWAP = bytes.fromhex("8206") + bytes([5]) + b"hello" + BITSWAP_BYTES


def test_gateway_and_piece_metadata_carry_a_zero_length_byte():
    assert encode_metadata([HTTP_GATEWAY]) == GATEWAY_BYTES and base64.b64encode(GATEWAY_BYTES) == b"oBIA"
    assert encode_metadata([PIECE_HTTP]) == PIECE_BYTES
    assert encode_metadata([BITSWAP]) == BITSWAP_BYTES
    assert encode_metadata([PIECE_HTTP, HTTP_GATEWAY]) == GATEWAY_BYTES + PIECE_BYTES
    # the old reader took the zero length byte for a protocol code ("protocol 0x0 out of order")
    assert decode_metadata(GATEWAY_BYTES).protocols == (HTTP_GATEWAY,)
    assert decode_metadata(PIECE_BYTES).protocols == (PIECE_HTTP,)
    assert decode_metadata(GATEWAY_BYTES + PIECE_BYTES).protocols == (HTTP_GATEWAY, PIECE_HTTP)
    assert decode_metadata(BITSWAP_BYTES + GATEWAY_BYTES).protocols == (BITSWAP, HTTP_GATEWAY)


def test_unknown_protocols_are_stepped_over_as_go_libipni_does():
    m = decode_metadata(UNKNOWN_THEN_BITSWAP)
    assert m.protocols == (BITSWAP,) and m.unknown == (0x0302,)
    m = decode_metadata(UNKNOWN_THEN_BITSWAP[:-2])  # go-libipni: "Unknown transport ID is not error"
    assert m.protocols == () and m.unknown == (0x0302,)


def test_graphsync_metadata_of_the_spec_example():
    # ipni/specs IPNI.md, "JSON Find Response": the second record's Metadata (no length after 90 12)
    doc = json.loads((DATA / "specs-find-response.json").read_text())
    raw = base64.b64decode(doc["MultihashResults"][0]["ProviderResults"][1]["Metadata"])
    m = decode_metadata(raw)
    assert m.protocols == (GRAPHSYNC,) and m.verified_deal and m.fast_retrieval
    assert str(m.piece_cid).startswith("baga6ea4seaq")
    assert encode_metadata([GRAPHSYNC], m.piece_cid, verified_deal=True, fast_retrieval=True) == raw
    both = encode_metadata([HTTP_GATEWAY, GRAPHSYNC], PIECE)
    assert both.startswith(bytes.fromhex("9012a3685069656365434944d82a5828000181e203922020"))
    assert both.endswith(GATEWAY_BYTES) and decode_metadata(both).protocols == (GRAPHSYNC, HTTP_GATEWAY)


@pytest.mark.parametrize("bad", ["", "a012", "a01205", "a012" "b012", "9012a1", "ff7f", "8206ff"])
def test_unreadable_metadata_is_an_error(bad):
    with pytest.raises(ValueError):
        decode_metadata(bytes.fromhex(bad))


def test_the_spec_json_and_ndjson_examples():
    recs = parse_answer((DATA / "specs-find-response.json").read_bytes(), False, URL)
    assert [r.protocols for r in recs] == [["bitswap"], ["graphsync"]]
    assert recs[0].peer_id == "QmQzqxhK82kAmKvARFZSkUVS6fo9sySaiogAnx5EnZ6ZmC" and recs[0].piece_cid is None
    assert recs[0].addrs == ["/dns4/elastic.dag.house/tcp/443/wss"]  # a URL, but bitswap only: never tried
    assert recs[1].piece_cid is not None and recs[1].padded_size is None  # a proposal-CID ContextID (Boost)
    assert recs[1].context_id[:4] == bytes.fromhex("01711220")
    recs = parse_answer((DATA / "specs-records.ndjson").read_bytes(), True, URL)  # blank lines between records
    assert len(recs) == 3 and all(r.protocols == ["bitswap"] for r in recs)
    assert recs[0].context_id == b"ipfs-dht-cascade"


def _rec(meta: bytes | None, ctx: bytes = b"", peer: str = "12D3KooWPeer", addrs=("/ip4/10.0.0.1/tcp/80/http",)):
    r: dict = {"ContextID": base64.b64encode(ctx).decode(), "Provider": {"ID": peer, "Addrs": list(addrs)}}
    if meta is not None:
        r["Metadata"] = base64.b64encode(meta).decode()
    return r


def test_curio_record_names_its_piece_and_its_https_host():
    # built the way Curio builds one (filecoin-project/curio tasks/indexing/task_ipni.go): ContextID =
    # abi.PieceInfo{Size, PieceCID}.MarshalCBOR (go-state-types abi/cbor_gen.go: a 2-array, size first),
    # Metadata = IpfsGatewayHttp alone, Addrs from lib/urlhelper FromURLWithPort (a domain: /dns/…/https)
    ctx = bytes.fromhex("821a00400000d82a5828000181e203922020") + PIECE.digest
    assert ctx == cbor.encode([4194304, PIECE])
    rec = _rec(GATEWAY_BYTES, ctx, "12D3KooWCurioIpniKey", ["/dns/sp.example.org/tcp/443/https"])
    [r] = parse_answer(json.dumps({"MultihashResults": [{"Multihash": "", "ProviderResults": [rec]}]}).encode(),
                       False, URL)
    assert r.protocols == ["http-gateway"] and r.piece_cid == PIECE and r.padded_size == 4194304
    assert r.http_urls() == ["https://sp.example.org:443"]
    # Curio's PDP ads (curio market/ipni/types/types.go PdpIpniContext): flag byte ‖ piece CID v2
    v2 = v1_to_v2(PIECE, 3_000_000)
    assert piece_from_context_id(b"\x01" + v2.bytes) == (PIECE, PieceInfo.from_v2(v2).padded_size)
    assert piece_from_context_id(b"ipfs-dht-cascade") is None


def skipped_counts() -> dict[tuple[str, str], float]:
    return {(s, r): REGISTRY.get_sample_value("tunasync_filecoin_skipped_records_total", {"source": s, "reason": r})
            or 0.0 for s in ("ipni",) for r in ("malformed", "bad_metadata", "unknown_protocol")}


def test_bad_records_are_skipped_logged_once_and_counted(caplog):
    before = skipped_counts()
    good = _rec(GATEWAY_BYTES, cbor.encode([4194304, PIECE]))
    bad_meta = _rec(bytes.fromhex("a012b012"), peer="12D3KooWOldDevnet")  # our old devnet's bytes
    no_meta = _rec(None, peer="12D3KooWAddressUpdateOnly")  # go-libipni find/model: Metadata is omitempty
    unknown = _rec(UNKNOWN_THEN_BITSWAP, peer="12D3KooWNewProtocol")
    body = json.dumps({"MultihashResults": [{"Multihash": "", "ProviderResults": [
        {"ContextID": "!!", "Metadata": 7}, bad_meta, no_meta, unknown, good]}, {"Multihash": ""}]}).encode()
    with caplog.at_level(logging.WARNING, "tunasync.filecoin.ipni"):
        for _ in range(2):
            recs = parse_answer(body, False, URL)
            assert [(r.peer_id, r.protocols) for r in recs] == [
                ("12D3KooWAddressUpdateOnly", []), ("12D3KooWNewProtocol", ["bitswap"]), ("12D3KooWPeer", ["http-gateway"])]
            nd = b"not json\n" + b"\n".join(json.dumps(r).encode() for r in (bad_meta, good))
            assert [r.peer_id for r in parse_answer(nd, True, URL)] == ["12D3KooWPeer"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 5 and all(w.startswith(URL) for w in warnings)  # once each, naming the indexer
    assert any("12D3KooWOldDevnet" in w and "bad_metadata" in w for w in warnings)
    after = skipped_counts()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert delta[("ipni", "malformed")] == 2 * 3 and delta[("ipni", "bad_metadata")] == 2 * 2
    assert delta[("ipni", "unknown_protocol")] == 2
    with pytest.raises(ValueError):
        parse_answer(b'{"MultihashResults": [', False, URL)  # the answer as a whole: still an error


def test_skipped_records_show_in_serve_metrics():
    from tunasync.serve.metrics import ServeMetrics

    parse_answer(json.dumps(_rec(b"\x00")).encode(), True, URL)
    text = render(ServeMetrics().registry).decode()
    assert 'tunasync_filecoin_skipped_records_total{reason="bad_metadata",source="ipni"}' in text


# -- the devnet's IPNI, one provider kind each ------------------------------------------------------
async def test_curio_records_from_the_devnet(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "i.bin", 2 * 1048576 + 1)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(2)])
    for ndjson in (True, False):
        c = IpniClient(devnet.url, http=Http(fast_http), ndjson=ndjson)
        try:
            recs = await c.providers(f.root)
            assert sorted(r.peer_id for r in recs) == sorted(devnet.providers[i]["ipniPeerId"] for i in (0, 2))
            for r in recs:
                [p] = [p for p in devnet.providers if p["ipniPeerId"] == r.peer_id]
                assert p["kind"] == "curio" and r.peer_id != p["peerId"]  # not the on-chain peer ID
                assert r.addrs == [p["multiaddr"]] == [f"/dns/localhost/tcp/{p['port']}/http"]
                assert r.protocols == ["http-gateway"] and r.http_urls() == [f"http://localhost:{p['port']}"]
                assert r.piece_cid == f.piece and r.padded_size == f.padded_size
                assert r.context_id == cbor.encode([f.padded_size, f.piece])
            # a leaf block inside the file is announced too
            assert len(await c.providers(CID.of_block(f.data[:1048576], 0x55))) == 2
        finally:
            await c.close()


async def test_boost_and_bitswap_only_records(devnet_factory, tmp_path, fast_http):
    devnet = devnet_factory("--provider-kind", "boost,bitswap-only")
    boost, bitswap = devnet.providers[0], devnet.providers[1]
    assert devnet.providers[2]["kind"] == "bitswap-only"  # the last kind repeats
    f = make_file(tmp_path, "b.bin", 300_000)
    devnet.seed(f.car, [boost["actor"], bitswap["actor"]])
    c = IpniClient(devnet.url, http=Http(fast_http))
    try:
        recs = await c.providers(f.root)
    finally:
        await c.close()
    by = {(r.peer_id, tuple(r.protocols)): r for r in recs}
    gs = by[(boost["peerId"], ("graphsync",))]  # Boost: the on-chain peer ID, a deal proposal CID as ContextID
    assert gs.piece_cid == f.piece and gs.padded_size is None and gs.http_urls() == []
    assert CID.from_bytes(gs.context_id)[0].codec == 0x71
    http = by[(boost["peerId"], ("http-gateway",))]  # booster-http, its extended provider
    assert http.addrs == [boost["multiaddr"]] == [f"/ip4/127.0.0.1/tcp/{boost['port']}/http"]
    assert http.context_id == gs.context_id
    bs = by[(bitswap["peerId"], ("bitswap",))]
    assert bs.addrs == [f"/ip4/127.0.0.1/tcp/{bitswap['port']}/ws"] and bs.piece_cid is None


async def test_unreadable_answer_names_the_endpoint(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "m.bin", 100)
    devnet.seed(f.car, [devnet.actor(0)])
    devnet.fault("ipni", "malformed")
    c = IpniClient(devnet.url, http=Http(fast_http))
    try:
        with pytest.raises(NetworkError) as exc:
            await c.providers(f.root)
        assert exc.value.endpoint == f"{devnet.url}/cid/{f.root}" and "malformed IPNI answer" in str(exc.value)
    finally:
        await c.close()


async def test_bad_records_in_a_devnet_answer_are_skipped(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "s.bin", 100)
    devnet.seed(f.car, [devnet.actor(1)])
    devnet.fault("ipni", "bad_record")
    c = IpniClient(devnet.url, http=Http(fast_http))
    try:
        recs = await c.providers(f.root)
        real = [r for r in recs if r.protocols]
        assert [r.peer_id for r in real] == [devnet.providers[1]["ipniPeerId"]]
        assert [r.peer_id for r in recs if not r.protocols] == ["12D3KooWAddressOnly"]  # no Metadata: kept
    finally:
        await c.close()


async def test_unknown_cid_is_none_not_an_error(devnet, fast_http):
    c = IpniClient(devnet.url, http=Http(fast_http))
    try:
        assert await c.providers(CID.of_block(b"nobody has this", 0x55)) == []
    finally:
        await c.close()
