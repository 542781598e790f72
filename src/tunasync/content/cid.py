"""CIDs, multihashes, varints and the two multibases we print (docs/cid.md §1.1).

One `CID` type for everything: UnixFS blocks (raw 0x55, dag-pb 0x70), piece CIDs v1
(0xf101 + 0x1012) and v2 (raw + 0x1011). Text: CIDv1 as base32 lower (`b…`), CIDv0 as base58btc (`Qm…`).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
from dataclasses import dataclass

RAW = 0x55
DAG_PB = 0x70
DAG_CBOR = 0x71
CAR = 0x0202
FIL_COMMITMENT_UNSEALED = 0xF101

IDENTITY = 0x00
SHA2_256 = 0x12
SHA2_256_TRUNC254_PADDED = 0x1012
FR32_SHA256_TRUNC254_PADBINTREE = 0x1011

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128."""
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varint(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """Return (value, new position). Rejects truncated, over-long (> 9 bytes) and non-minimal varints."""
    result = shift = 0
    start = pos
    n = len(buf)
    while True:
        if pos >= n:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if b == 0 and pos - start > 1:
                raise ValueError("varint is not minimally encoded")
            return result, pos
        shift += 7
        if pos - start >= 9:
            raise ValueError("varint too long")


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        if c not in _B58_INDEX:
            raise ValueError(f"invalid base58btc character {c!r}")
        n = n * 58 + _B58_INDEX[c]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body


def b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    t = text.upper()
    return base64.b32decode(t + "=" * (-len(t) % 8))


@dataclass(frozen=True, slots=True)
class CID:
    """A content identifier. `digest` is the multihash digest (32 bytes for sha2-256)."""

    version: int
    codec: int
    mh_code: int
    digest: bytes

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def v1(cls, codec: int, digest: bytes, mh_code: int = SHA2_256) -> CID:
        return cls(1, codec, mh_code, bytes(digest))

    @classmethod
    def v0(cls, digest: bytes) -> CID:
        return cls(0, DAG_PB, SHA2_256, bytes(digest))

    @classmethod
    def of_block(cls, data: bytes, codec: int, version: int = 1) -> CID:
        """CID of a block hashed with sha2-256."""
        d = hashlib.sha256(data).digest()
        return cls.v0(d) if version == 0 else cls.v1(codec, d)

    @classmethod
    def decode(cls, value: str | bytes | CID) -> CID:
        """Parse text (`Qm…` v0, `b…` base32 v1, `z…` base58 v1) or binary; ValueError on anything else."""
        if isinstance(value, CID):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            cid, end = cls.from_bytes(bytes(value))
            if end != len(value):
                raise ValueError("trailing bytes after CID")
            return cid
        text = value.strip()
        if not text:
            raise ValueError("empty CID")
        if len(text) == 46 and text.startswith("Qm"):
            return cls.decode(b58decode(text))
        prefix, body = text[0], text[1:]
        try:
            if prefix in "bB":
                raw = b32decode(body)
            elif prefix == "z":
                raw = b58decode(body)
            elif prefix == "f":
                raw = bytes.fromhex(body)
            else:
                raise ValueError(f"unsupported multibase prefix {prefix!r}")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid CID {text!r}: {exc}") from None
        cid = cls.decode(raw)
        if cid.version == 0:
            raise ValueError(f"invalid CID {text!r}: CIDv0 must be base58btc text")
        return cid

    @classmethod
    def from_bytes(cls, buf: bytes | memoryview, pos: int = 0) -> tuple[CID, int]:
        """Read a binary CID at `pos` (as in a CAR section); return (cid, end position)."""
        if len(buf) - pos >= 2 and buf[pos] == 0x12 and buf[pos + 1] == 0x20:
            if len(buf) - pos < 34:
                raise ValueError("truncated CIDv0")
            return cls.v0(bytes(buf[pos + 2 : pos + 34])), pos + 34
        version, pos = decode_varint(buf, pos)
        if version != 1:
            raise ValueError(f"unsupported CID version {version}")
        codec, pos = decode_varint(buf, pos)
        mh_code, pos = decode_varint(buf, pos)
        mh_len, pos = decode_varint(buf, pos)
        if mh_len > 128:
            raise ValueError(f"multihash digest too long ({mh_len} bytes)")
        if len(buf) - pos < mh_len:
            raise ValueError("truncated multihash digest")
        return cls(1, codec, mh_code, bytes(buf[pos : pos + mh_len])), pos + mh_len

    # -- encoding -----------------------------------------------------------------------------
    @property
    def multihash(self) -> bytes:
        return encode_varint(self.mh_code) + encode_varint(len(self.digest)) + self.digest

    @property
    def bytes(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def encode(self) -> str:
        if self.version == 0:
            return b58encode(self.multihash)
        return "b" + b32encode(self.bytes)

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"CID({self.encode()})"

    def to_v1(self) -> CID:
        return self if self.version == 1 else CID.v1(self.codec, self.digest, self.mh_code)

    def verify(self, data: builtins.bytes) -> bool:  # `bytes` is a property of this class
        """True when `data` hashes to this CID (sha2-256 or identity); False for a mismatch."""
        if self.mh_code == SHA2_256:
            return hashlib.sha256(data).digest() == self.digest
        if self.mh_code == IDENTITY:
            return bytes(data) == self.digest
        raise ValueError(f"unsupported multihash code 0x{self.mh_code:x} in {self}")
