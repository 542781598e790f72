"""IPNI client (`GET /cid/{cid}`, JSON or ndjson) and the provider-record metadata codec (spec §4.1).

Metadata = one or more `uvarint(protocol) ‖ payload`, ascending by code:
    0x0900 bitswap (no payload)      0x0910 graphsync-filecoinv1 + DAG-CBOR {PieceCID, VerifiedDeal, FastRetrieval}
    0x0920 trustless HTTP gateway    0x0930 piece HTTP (FRC-0066)
ContextID is provider-defined; Curio's is DAG-CBOR `[PaddedSize, PieceCID]`, which names the piece.
A 404 means nobody announces the CID. Records are hints, never proof of storage.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ..content.cid import CID, decode_varint, encode_varint
from ..errors import NetworkError
from . import cbor, multiaddr
from .http import Http, wrap_errors
from .interfaces import ContentRouter, ProviderRecord

BITSWAP = 0x0900
GRAPHSYNC = 0x0910
HTTP_GATEWAY = 0x0920
PIECE_HTTP = 0x0930
PROTOCOL_NAMES = {BITSWAP: "bitswap", GRAPHSYNC: "graphsync", HTTP_GATEWAY: "http-gateway", PIECE_HTTP: "piece-http"}


@dataclass(frozen=True, slots=True)
class Metadata:
    protocols: tuple[int, ...]
    piece_cid: CID | None = None
    verified_deal: bool = False
    fast_retrieval: bool = False


def encode_metadata(protocols: list[int], piece_cid: CID | None = None, verified_deal: bool = False,
                    fast_retrieval: bool = True) -> bytes:
    out = bytearray()
    for code in sorted(set(protocols)):
        out += encode_varint(code)
        if code == GRAPHSYNC:
            if piece_cid is None:
                raise ValueError("graphsync metadata needs a piece CID")
            out += cbor.encode({"PieceCID": piece_cid, "VerifiedDeal": verified_deal, "FastRetrieval": fast_retrieval})
    return bytes(out)


def decode_metadata(raw: bytes) -> Metadata:
    """ValueError on unknown protocols, bad CBOR, or codes out of order."""
    pos, codes = 0, list[int]()
    piece, verified, fast = None, False, False
    while pos < len(raw):
        code, pos = decode_varint(raw, pos)
        if codes and code <= codes[-1]:
            raise ValueError(f"metadata protocol 0x{code:x} out of order")
        if code not in PROTOCOL_NAMES:
            raise ValueError(f"unknown metadata protocol 0x{code:x}")
        codes.append(code)
        if code == GRAPHSYNC:
            value, pos = cbor.decode_prefix(raw, pos)
            if not isinstance(value, dict) or not isinstance(value.get("PieceCID"), CID):
                raise ValueError("graphsync metadata without a PieceCID")
            piece = value["PieceCID"]
            verified = bool(value.get("VerifiedDeal", False))
            fast = bool(value.get("FastRetrieval", False))
    if not codes:
        raise ValueError("empty metadata")
    return Metadata(tuple(codes), piece, verified, fast)


def curio_context_id(piece_cid: CID, padded_size: int) -> bytes:
    return cbor.encode([padded_size, piece_cid])


def piece_from_context_id(ctx: bytes) -> tuple[CID, int] | None:
    """(piece CID, padded size) when the ContextID is Curio's `[PaddedSize, PieceCID]`; else None."""
    try:
        v = cbor.decode(ctx)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], CID):
        return v[1], v[0]
    return None


def _b64(v: Any, what: str) -> bytes:
    if not isinstance(v, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


def parse_record(obj: Any) -> ProviderRecord:
    """One `{ContextID, Metadata, Provider:{ID, Addrs}}` record; ValueError when malformed."""
    if not isinstance(obj, dict) or not isinstance(obj.get("Provider"), dict):
        raise ValueError("provider record without a Provider object")
    prov = obj["Provider"]
    if not isinstance(prov.get("ID"), str) or not prov["ID"]:
        raise ValueError("provider record without Provider.ID")
    addrs = prov.get("Addrs") or []
    if not isinstance(addrs, list):
        raise ValueError("Provider.Addrs is not a list of multiaddrs")
    meta = decode_metadata(_b64(obj.get("Metadata"), "Metadata"))
    ctx = _b64(obj.get("ContextID", ""), "ContextID") if obj.get("ContextID") else b""
    piece, size = meta.piece_cid, None
    from_ctx = piece_from_context_id(ctx) if ctx else None
    if from_ctx is not None:
        piece = piece or from_ctx[0]
        size = from_ctx[1]
    return ProviderRecord(peer_id=prov["ID"], addrs=multiaddr.readable(addrs, "ipni", prov["ID"]),
                          protocols=[PROTOCOL_NAMES[c] for c in meta.protocols],
                          piece_cid=piece, padded_size=size, context_id=ctx)


class IpniClient(ContentRouter):
    def __init__(self, url: str, http: Http | None = None, ndjson: bool = True):
        self.url = url.rstrip("/")
        self.http = http or Http()
        self.ndjson = ndjson

    async def providers(self, cid: CID) -> list[ProviderRecord]:
        url = f"{self.url}/cid/{cid}"
        accept = "application/x-ndjson" if self.ndjson else "application/json"
        async with self.http.open("GET", url, headers={"Accept": accept}, passthrough=(404,), endpoint=url) as resp:
            if resp.status == 404:
                return []
            ctype = resp.headers.get("Content-Type", "")
            with wrap_errors(url):
                body = await resp.read()
        try:
            if "ndjson" in ctype:
                records = [parse_record(json.loads(line)) for line in body.splitlines() if line.strip()]
            else:
                records = self._from_json(json.loads(body))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise NetworkError(url, f"malformed IPNI answer: {exc}") from None
        return _dedupe(records)

    @staticmethod
    def _from_json(obj: Any) -> list[ProviderRecord]:
        if not isinstance(obj, dict) or not isinstance(obj.get("MultihashResults"), list):
            raise ValueError("no MultihashResults list")
        out = []
        for mr in obj["MultihashResults"]:
            if not isinstance(mr, dict) or not isinstance(mr.get("ProviderResults"), list):
                raise ValueError("MultihashResults entry without ProviderResults")
            out += [parse_record(r) for r in mr["ProviderResults"]]
        return out

    async def close(self) -> None:
        await self.http.close()


def _dedupe(records: list[ProviderRecord]) -> list[ProviderRecord]:
    seen, out = set(), []
    for r in records:
        key = (r.peer_id, r.context_id, tuple(r.protocols))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
