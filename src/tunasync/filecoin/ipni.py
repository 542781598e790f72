"""IPNI client (`GET /cid/{cid}`, JSON or ndjson) and the provider-record metadata codec.

Metadata = one or more `uvarint(protocol) ‖ payload`, as go-libipni's `metadata` package writes them:
    0x0900 bitswap            `80 12`: no payload, no length
    0x0910 graphsync-filecoinv1  `90 12` + DAG-CBOR {PieceCID, VerifiedDeal, FastRetrieval} (no length)
    0x0920 trustless gateway  `a0 12 00`: a zero length byte follows the code
    0x0930 piece HTTP         `b0 12 00`: likewise
    any other code            uvarint length + that many bytes (go-libipni's `Unknown`): skipped
ContextID is the announcer's own: Curio's market ads carry DAG-CBOR `[PaddedSize, PieceCID]` (abi.PieceInfo),
its PDP ads `flag byte ‖ piece CID v2`, Boost's the deal proposal's CID bytes. A 404 means nobody announces
the CID. Records are hints, never proof of storage: one that cannot be read is skipped (logged once,
counted in `tunasync_filecoin_skipped_records_total`), never the end of the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from ..content import dagcbor as cbor
from ..content.cid import CID, RAW, decode_varint, encode_varint
from ..content.piece import PieceInfo, v2_to_v1
from ..errors import CodecError, NetworkError
from . import multiaddr
from .http import Http, wrap_errors
from .interfaces import ContentRouter, ProviderRecord

log = logging.getLogger("tunasync.filecoin.ipni")

BITSWAP = 0x0900
GRAPHSYNC = 0x0910
HTTP_GATEWAY = 0x0920
PIECE_HTTP = 0x0930
PROTOCOL_NAMES = {BITSWAP: "bitswap", GRAPHSYNC: "graphsync", HTTP_GATEWAY: "http-gateway", PIECE_HTTP: "piece-http"}
_ZERO_LENGTH = (HTTP_GATEWAY, PIECE_HTTP)  # code ‖ 0x00
MAX_METADATA = 1024  # go-libipni's MaxMetadataSize


@dataclass(frozen=True, slots=True)
class Metadata:
    protocols: tuple[int, ...]  # the known ones, in the order given
    piece_cid: CID | None = None
    verified_deal: bool = False
    fast_retrieval: bool = False
    unknown: tuple[int, ...] = ()  # codes read past (length-prefixed payloads we do not know)


def encode_metadata(protocols: list[int], piece_cid: CID | None = None, verified_deal: bool = False,
                    fast_retrieval: bool = True) -> bytes:
    """The bytes go-libipni's `Metadata.MarshalBinary` writes for these protocols (sorted by code)."""
    out = bytearray()
    for code in sorted(set(protocols)):
        if code not in PROTOCOL_NAMES:
            raise ValueError(f"unknown metadata protocol 0x{code:x}")
        out += encode_varint(code)
        if code == GRAPHSYNC:
            if piece_cid is None:
                raise ValueError("graphsync metadata needs a piece CID")
            out += cbor.encode({"PieceCID": piece_cid, "VerifiedDeal": verified_deal, "FastRetrieval": fast_retrieval})
        elif code in _ZERO_LENGTH:
            out += b"\x00"
    return bytes(out)


def decode_metadata(raw: bytes) -> Metadata:
    """Read every protocol entry; unknown codes are stepped over by their length. ValueError when the
    bytes cannot be read (truncated, bad CBOR, a non-zero length where go-libipni writes zero, empty)."""
    if len(raw) > MAX_METADATA:
        raise ValueError(f"metadata of {len(raw)} bytes is over {MAX_METADATA}")
    pos, codes, unknown = 0, list[int](), list[int]()
    piece, verified, fast = None, False, False
    while pos < len(raw):
        code, pos = decode_varint(raw, pos)
        if code == BITSWAP:
            codes.append(code)
        elif code == GRAPHSYNC:
            value, pos = cbor.decode_prefix(raw, pos)
            if not isinstance(value, dict) or not isinstance(value.get("PieceCID"), CID):
                raise ValueError("graphsync metadata without a PieceCID")
            for key in ("VerifiedDeal", "FastRetrieval"):
                if not isinstance(value.get(key, False), bool):
                    raise ValueError(f"graphsync metadata: {key} is not a bool")
            piece = value["PieceCID"]
            verified = value.get("VerifiedDeal", False)
            fast = value.get("FastRetrieval", False)
            codes.append(code)
        else:
            if pos >= len(raw):
                raise ValueError(f"metadata protocol 0x{code:x} without its length byte")
            size, pos = decode_varint(raw, pos)
            if code in _ZERO_LENGTH:
                if size != 0:
                    raise ValueError(f"metadata protocol 0x{code:x} with a {size}-byte payload (go-libipni writes none)")
                codes.append(code)
            else:
                if pos + size > len(raw):
                    raise ValueError(f"metadata protocol 0x{code:x}: {size}-byte payload truncated")
                pos += size
                unknown.append(code)
    if not codes and not unknown:
        raise ValueError("empty metadata")
    return Metadata(tuple(codes), piece, verified, fast, tuple(unknown))


def curio_context_id(piece_cid: CID, padded_size: int) -> bytes:
    """Curio's ContextID for market deals: abi.PieceInfo{Size, PieceCID} as a cbor-gen tuple."""
    return cbor.encode([padded_size, piece_cid])


def piece_from_context_id(ctx: bytes) -> tuple[CID, int] | None:
    """(piece CID v1, padded size) when the ContextID is one of Curio's (see the module docstring); else None."""
    if 34 <= len(ctx) <= 64 and ctx[0] in (0, 1):  # PDP: flag ‖ piece CID v2
        try:
            cid, end = CID.from_bytes(ctx, 1)
            if end == len(ctx) and cid.codec == RAW and cid.mh_code == 0x1011:
                return v2_to_v1(cid), PieceInfo.from_v2(cid).padded_size
        except ValueError:
            pass
    try:
        v = cbor.decode(ctx)
    except cbor.DagCborError:
        return None
    if (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and not isinstance(v[0], bool)
            and isinstance(v[1], CID) and v[0] >= 128 and v[0] & (v[0] - 1) == 0):
        return v[1], v[0]
    return None


# -- skipped records: logged once, counted per reason ----------------------------------------------
SKIPPED_RECORDS = Counter("tunasync_filecoin_skipped_records",
                          "Indexer records (or protocol entries in them) that could not be used and were skipped, "
                          "by source and reason (malformed, bad_metadata, unknown_protocol).", ["source", "reason"])
_logged: set[tuple[str, str, str]] = set()
_logged_lock = threading.Lock()


def skipped_record(source: str, url: str, reason: str, detail: str) -> None:
    """Count one record (or protocol entry) we could not use; log it the first time it is seen."""
    SKIPPED_RECORDS.labels(source, reason).inc()
    key = (url, reason, detail)
    with _logged_lock:
        if key in _logged:
            return
        if len(_logged) >= 4096:
            _logged.clear()
        _logged.add(key)
    log.warning("%s: skipped a record (%s): %s", url, reason, detail)


def _b64(v: Any, what: str) -> bytes:
    if not isinstance(v, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None


class BadRecord(CodecError):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(detail)


def parse_record(obj: Any, url: str = "ipni") -> ProviderRecord:
    """One `{ContextID, Metadata, Provider:{ID, Addrs}}` record; BadRecord (a ValueError) when it cannot be
    used. A missing Metadata (omitempty) gives a record with no protocols; unknown protocols are skipped."""
    if not isinstance(obj, dict) or not isinstance(obj.get("Provider"), dict):
        raise BadRecord("malformed", "no Provider object")
    prov = obj["Provider"]
    if not isinstance(prov.get("ID"), str) or not prov["ID"]:
        raise BadRecord("malformed", "no Provider.ID")
    addrs = prov.get("Addrs") or []
    if not isinstance(addrs, list):
        raise BadRecord("malformed", f"{prov['ID']}: Provider.Addrs is not a list of multiaddrs")
    try:
        ctx = _b64(obj["ContextID"], "ContextID") if obj.get("ContextID") else b""
        raw_meta = _b64(obj["Metadata"], "Metadata") if obj.get("Metadata") else b""
    except ValueError as exc:
        raise BadRecord("malformed", f"{prov['ID']}: {exc}") from None
    meta = Metadata(())
    if raw_meta:
        try:
            meta = decode_metadata(raw_meta)
        except ValueError as exc:
            raise BadRecord("bad_metadata", f"{prov['ID']}: metadata {raw_meta[:32].hex()}: {exc}") from None
    for code in meta.unknown:
        skipped_record("ipni", url, "unknown_protocol", f"{prov['ID']}: protocol 0x{code:x}")
    piece, size = meta.piece_cid, None
    from_ctx = piece_from_context_id(ctx) if ctx else None
    if from_ctx is not None:
        if piece is None or piece.to_v1() == from_ctx[0].to_v1():
            piece, size = from_ctx
    return ProviderRecord(peer_id=prov["ID"], addrs=multiaddr.readable(addrs, "ipni", prov["ID"]),
                          protocols=[PROTOCOL_NAMES[c] for c in dict.fromkeys(meta.protocols)],
                          piece_cid=piece, padded_size=size, context_id=ctx)


def parse_answer(body: bytes, ndjson: bool, url: str) -> list[ProviderRecord]:
    """Every usable record of a `/cid/` answer; ValueError only when the answer as a whole is unreadable."""
    if ndjson:
        objs: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                objs.append(json.loads(line))
            except ValueError:
                skipped_record("ipni", url, "malformed", f"ndjson line is not JSON: {line[:80]!r}")
    else:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        results = doc.get("MultihashResults") or []  # omitempty
        if not isinstance(results, list):
            raise ValueError("MultihashResults is not a list")
        objs = []
        for mr in results:
            prs = mr.get("ProviderResults") if isinstance(mr, dict) else None
            if not isinstance(prs, list):
                skipped_record("ipni", url, "malformed", "MultihashResults entry without a ProviderResults list")
                continue
            objs += prs
    out = []
    for obj in objs:
        try:
            out.append(parse_record(obj, url))
        except BadRecord as exc:
            skipped_record("ipni", url, exc.reason, str(exc))
    return out


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
            records = parse_answer(body, "ndjson" in ctype, url)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise NetworkError(url, f"malformed IPNI answer: {exc}") from None
        return _dedupe(records)

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
