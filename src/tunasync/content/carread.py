"""Verified CAR reading (docs/cid.md §2.1–§2.2): every block is checked against its CID as it streams past.

    iter_car(stream_or_bytes) -> CarStream   (.roots, .version; iterate -> (CID, block bytes))
    CarIndex.open(path)                      CID -> (offset, length) of each block, for random access
    Sections()                               push parser: network chunks in, (CID, block views) out

Rejected with CarError (malformed) or BadBlock (hash mismatch): bad or non-minimal varints,
truncated sections, blocks over 2 MiB, unknown codecs or multihash codes, headers that are not a
CAR v1 header (a CARv2 container is unwrapped to its v1 payload).

Zero padding: a piece payload may be our CAR followed by zero bytes up to the piece's unpadded size
(Curio serves `/piece/` that way). As with go-car's `ZeroLengthSectionAsEOF` option (used by Curio and
Boost to index pieces), a zero-length section ends the CAR cleanly, but here only when every byte
after it is zero too: a zero section followed by other data is a CarError (`zero_padding=False`
refuses zero sections outright).
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import BadBlock, CarError
from . import dagcbor
from .cid import CID, DAG_CBOR, DAG_PB, IDENTITY, RAW, SHA2_256, decode_varint
from .dagcbor import DagCborError

# What a CAR is read from: a binary stream, or the whole CAR in memory.
CarSource = BinaryIO | bytes | bytearray | memoryview

MAX_BLOCK = 2 << 20  # trustless gateways and our reader accept blocks up to 2 MiB
MAX_HEADER = 1 << 20
MAX_CID = 200  # 4 varints of at most 9 bytes and a digest of at most 128: a CID never needs more
KNOWN_CODECS = {RAW, DAG_PB, DAG_CBOR}
_V2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")


def check_block(cid: CID, block: bytes | memoryview, offset: int | None = None) -> None:
    """Raise CarError for an unusable CID/size, BadBlock when the bytes do not hash to the CID."""
    where = f" (section at byte {offset})" if offset is not None else ""
    if cid.codec not in KNOWN_CODECS:
        raise CarError(f"block {cid} has unsupported codec 0x{cid.codec:x}", offset)
    if len(block) > MAX_BLOCK:
        raise CarError(f"block {cid} is {len(block)} bytes, over the 2 MiB limit", offset)
    if cid.mh_code == SHA2_256:
        if len(cid.digest) != 32:
            raise CarError(f"block {cid}: sha2-256 digest of {len(cid.digest)} bytes", offset)
        if hashlib.sha256(block).digest() != cid.digest:
            raise BadBlock(cid, f"block bytes do not match the CID{where}")
    elif cid.mh_code == IDENTITY:
        if bytes(block) != cid.digest:
            raise BadBlock(cid, f"identity block differs from the data in its CID{where}")
    else:
        raise CarError(f"block {cid} uses unsupported multihash 0x{cid.mh_code:x}", offset)


def parse_header(raw: bytes) -> dict[str, Any]:
    """The CAR header map (one strict DAG-CBOR item, dagcbor.py); CarError when it is not one map."""
    try:
        value, end = dagcbor.decode_prefix(raw)
    except DagCborError as exc:
        raise CarError(f"header is not valid DAG-CBOR: {exc}", 0) from None
    if end != len(raw) or not isinstance(value, dict):
        raise CarError("header is not a single DAG-CBOR map", 0)
    return value


class _Reader:
    """Byte source over a binary stream with absolute offsets."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def read_exact(self, n: int, what: str) -> bytes:
        data: bytes = self.stream.read(n)
        while len(data) < n:
            more = self.stream.read(n - len(data))
            if not more:
                raise CarError(f"truncated {what}: wanted {n} bytes, got {len(data)}", self.offset)
            data += more
        self.offset += n
        return data

    def read_varint(self, what: str, eof_ok: bool = False) -> int | None:
        buf = bytearray()
        start = self.offset
        while True:
            b = self.stream.read(1)
            if not b:
                if eof_ok and not buf:
                    return None
                raise CarError(f"truncated {what} varint", start)
            buf += b
            self.offset += 1
            if not b[0] & 0x80:
                break
            if len(buf) >= 9:
                raise CarError(f"{what} varint too long", start)
        try:
            return decode_varint(bytes(buf))[0]
        except ValueError as exc:
            raise CarError(f"bad {what} varint: {exc}", start) from None


@dataclass(frozen=True, slots=True)
class Section:
    cid: CID
    offset: int  # absolute offset of the block bytes in the CAR file
    length: int
    block: bytes


class CarStream:
    """A CAR read front to back: `.roots` after construction, then iterate verified (CID, block)."""

    def __init__(self, src: CarSource, verify: bool = True, zero_padding: bool = True) -> None:
        if isinstance(src, (bytes, bytearray, memoryview)):
            src = io.BytesIO(bytes(src))
        self._r = _Reader(src)
        self.verify = verify
        self.zero_padding = zero_padding
        self.padding = 0  # zero bytes after the last section (a padded piece payload)
        self._limit: int | None = None
        self.version = 1
        self.roots = self._read_header()

    def _read_header(self) -> list[CID]:
        r = self._r
        n = r.read_varint("header length", eof_ok=True)
        if n is None:
            raise CarError("empty input: not a CAR", 0)
        if n == 0 or n > MAX_HEADER:
            raise CarError(f"header length {n} out of range", 0)
        raw = r.read_exact(n, "header")
        if raw == _V2_PRAGMA[1:]:
            return self._read_v2()
        header = parse_header(raw)
        if header.get("version") != 1:
            raise CarError(f"unsupported CAR version {header.get('version')!r}", 0)
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(c, CID) for c in roots):
            raise CarError("header roots is not a list of CIDs", 0)
        return roots

    def _read_v2(self) -> list[CID]:
        r = self._r
        fixed = r.read_exact(40, "CARv2 header")
        data_offset = int.from_bytes(fixed[16:24], "little")
        data_size = int.from_bytes(fixed[24:32], "little")
        if data_offset < r.offset:
            raise CarError(f"CARv2 data offset {data_offset} inside the header", 11)
        r.read_exact(data_offset - r.offset, "CARv2 padding")
        self.version = 2
        self._limit = data_offset + data_size
        roots = self._read_header()
        self.version = 2
        return roots

    def sections(self) -> Iterator[Section]:
        """Every section, verified (unless verify=False), with the absolute offset of its block."""
        r = self._r
        while True:
            if self._limit is not None and r.offset >= self._limit:
                return
            start = r.offset
            n = r.read_varint("section length", eof_ok=True)
            if n is None:
                return
            if n == 0:
                if not self.zero_padding:
                    raise CarError("empty section", start)
                self._zero_tail(start)
                return
            if n > MAX_BLOCK + 256:
                raise CarError(f"section of {n} bytes is over the 2 MiB block limit", start)
            body_at = r.offset
            body = r.read_exact(n, "section")
            try:
                cid, end = CID.from_bytes(body)
            except ValueError as exc:
                raise CarError(f"bad CID in section: {exc}", body_at) from None
            block = body[end:]
            if self.verify:
                check_block(cid, block, start)
            yield Section(cid, body_at + end, len(block), block)

    def __iter__(self) -> Iterator[tuple[CID, bytes]]:
        for s in self.sections():
            yield s.cid, s.block

    def _zero_tail(self, start: int) -> None:
        """After a zero-length section at `start`: the rest (to the CARv2 data end) must be zeros."""
        r = self._r
        left = None if self._limit is None else self._limit - r.offset
        while left is None or left > 0:
            chunk = r.stream.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            if chunk.count(0) != len(chunk):
                at = r.offset + next(i for i, b in enumerate(chunk) if b)
                raise CarError(f"zero-length section at byte {start} followed by non-zero data at byte {at}", start)
            r.offset += len(chunk)
            if left is not None:
                left -= len(chunk)
        self.padding = r.offset - start


class Sections:
    """Push parser for the sections of a CAR stream that copies no block bytes.

    Chunks are kept as they arrived, so they must never change (pass `bytes`); a block comes out as
    memoryviews of the chunks it spans, and is hashed and written from those. Only a section's first
    bytes (its length and CID) are copied to parse them. The caller checks limits and the header.
    """

    def __init__(self) -> None:
        self._chunks: deque[memoryview] = deque()
        self.buffered = 0  # bytes pushed and not yet taken
        self.offset = 0  # stream offset of the first of them

    def push(self, data: bytes) -> None:
        if data:
            self._chunks.append(memoryview(data))
            self.buffered += len(data)

    def peek(self, n: int) -> bytes:
        """Up to `n` bytes from the front, not consumed (a copy: for lengths, CIDs and the header)."""
        chunks = self._chunks
        if not chunks:
            return b""
        if len(chunks[0]) >= n:
            return bytes(chunks[0][:n])
        out = bytearray()
        for mv in chunks:
            out += mv[: n - len(out)]
            if len(out) >= n:
                break
        return bytes(out)

    def take(self, n: int) -> list[memoryview]:
        """The next `n` (<= buffered) bytes as views of the chunks they are in, consumed."""
        chunks = self._chunks
        self.buffered -= n
        self.offset += n
        parts = []
        while n:
            first = chunks[0]
            if len(first) <= n:
                parts.append(chunks.popleft())
                n -= len(first)
            else:
                parts.append(first[:n])
                chunks[0] = first[n:]
                n = 0
        return parts

    def varint(self) -> tuple[int, int] | None:
        """(value, encoded size) of the varint at the front, not consumed; None until it all arrived."""
        head = self.peek(9)
        result = shift = 0
        for i, b in enumerate(head):
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if b == 0 and i > 0:
                    raise CarError("varint is not minimally encoded", self.offset)
                return result, i + 1
            shift += 7
        if len(head) >= 9:
            raise CarError("varint too long", self.offset)
        return None

    def section(self, max_len: int = MAX_BLOCK + 256) -> tuple[CID, list[memoryview], int] | None:
        """The next section once it all arrived: (CID, block views, stream offset of the section)."""
        got = self.varint()
        if got is None:
            return None
        n, size = got
        at = self.offset
        if n == 0 or n > max_len:
            raise CarError(f"section length {n} out of range", at)
        if self.buffered < size + n:
            return None
        head = self.peek(size + min(n, MAX_CID))
        try:
            cid, end = CID.from_bytes(head, size)
        except ValueError as exc:
            raise CarError(f"bad CID in section: {exc}", at) from None
        self.take(end)
        return cid, self.take(size + n - end), at


def iter_car(src: CarSource, verify: bool = True, zero_padding: bool = True) -> CarStream:
    """Open a CAR (binary stream, or bytes): header read now, blocks verified while iterating."""
    return CarStream(src, verify, zero_padding)


class CarIndex:
    """Random access to a CAR file's blocks (any block order): CID -> (offset, length)."""

    def __init__(self, path: str, roots: list[CID], offsets: dict[CID, tuple[int, int]], sections: int):
        self.path = path
        self.roots = roots
        self.offsets = offsets
        self.sections = sections
        self._f = open(path, "rb")

    @classmethod
    def open(cls, path: str, verify: bool = True, zero_padding: bool = True) -> CarIndex:
        """Scan the CAR once (verifying every block unless verify=False) and index it; a zero-padded
        tail (a piece payload) ends it cleanly unless zero_padding=False."""
        offsets: dict[CID, tuple[int, int]] = {}
        count = 0
        with open(path, "rb", buffering=1 << 20) as f:
            car = CarStream(f, verify, zero_padding)
            for s in car.sections():
                offsets.setdefault(s.cid, (s.offset, s.length))
                count += 1
        return cls(path, car.roots, offsets, count)

    def __contains__(self, cid: CID) -> bool:
        return self._key(cid) in self.offsets

    def _key(self, cid: CID) -> CID:
        if cid in self.offsets:
            return cid
        # the same block may be referenced as v0 and as v1
        alt = cid.to_v1() if cid.version == 0 else CID.v0(cid.digest) if cid.codec == DAG_PB else cid
        return alt if alt in self.offsets else cid

    def get(self, cid: CID, verify: bool = True) -> bytes:
        """The block's bytes, verified again unless the caller verifies (the file may have changed)."""
        if cid.mh_code == IDENTITY:
            return cid.digest
        key = self._key(cid)
        if key not in self.offsets:
            raise KeyError(cid)
        offset, length = self.offsets[key]
        self._f.seek(offset)
        block = self._f.read(length)
        if len(block) != length:
            raise CarError(f"{self.path}: block {cid} truncated", offset)
        if verify:
            check_block(cid, block, offset)
        return block

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CarIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
