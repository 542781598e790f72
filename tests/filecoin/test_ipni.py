"""IPNI client against the devnet's `/cid/{cid}` (JSON and ndjson), and the metadata codec."""

from __future__ import annotations

import base64

import pytest

from tunasync.content.cid import CID
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
    piece_from_context_id,
)

from .conftest import make_file

PIECE = CID.decode("baga6ea4seaqbyafx5e5lzyqq2upjo5j4ziulp6phikah6p7ujgv2cmqrkxcqepq")


def test_metadata_codes_and_graphsync_cbor():
    assert base64.b64encode(encode_metadata([BITSWAP])) == b"gBI="
    raw = encode_metadata([PIECE_HTTP, GRAPHSYNC, HTTP_GATEWAY], piece_cid=PIECE, verified_deal=True)
    # spec §4.1: 90 12 a3 68 "PieceCID" d8 2a 58 28 00 01 81 e2 03 92 20 20 …
    assert raw.startswith(bytes.fromhex("9012a3685069656365434944d82a5828000181e203922020"))
    m = decode_metadata(raw)
    assert m.protocols == (GRAPHSYNC, HTTP_GATEWAY, PIECE_HTTP)
    assert m.piece_cid == PIECE and m.verified_deal and m.fast_retrieval
    for bad in (b"", bytes.fromhex("a012" "9012"), bytes.fromhex("ff7f"), bytes.fromhex("9012a1")):
        with pytest.raises(ValueError):
            decode_metadata(bad)


async def test_providers_json_and_ndjson(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "i.bin", 2 * 1048576 + 1)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(2)])
    for ndjson in (True, False):
        c = IpniClient(devnet.url, http=Http(fast_http), ndjson=ndjson)
        try:
            recs = await c.providers(f.root)
            assert sorted(r.peer_id for r in recs) == sorted(devnet.providers[i]["peerId"] for i in (0, 2))
            for r in recs:
                assert r.piece_cid == f.piece and r.padded_size == f.padded_size
                assert {"graphsync", "http-gateway", "piece-http"} == set(r.protocols)
                assert r.http_urls()[0].startswith("http://127.0.0.1:")
                assert piece_from_context_id(r.context_id) == (f.piece, f.padded_size)
            # a leaf block inside the file is announced too
            assert len(await c.providers(CID.of_block(f.data[:1048576], 0x55))) == 2
        finally:
            await c.close()


async def test_unknown_cid_is_none_not_an_error(devnet, fast_http):
    c = IpniClient(devnet.url, http=Http(fast_http))
    try:
        assert await c.providers(CID.of_block(b"nobody has this", 0x55)) == []
    finally:
        await c.close()


async def test_malformed_record_names_the_endpoint(devnet, tmp_path, fast_http):
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
