"""The tiny DAG-CBOR subset IPNI records use: maps with text keys, arrays, uints, bools, bytes, CIDs (tag 42).

Enough for graphsync metadata `{PieceCID, VerifiedDeal, FastRetrieval}` (0x0910) and Curio's ContextID
`[PaddedSize, PieceCID]`. Encoding is canonical (map keys sorted length-first, as DAG-CBOR wants).
"""

from __future__ import annotations

import struct

from ..content.cid import CID

_CID_TAG = 42


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for extra, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | extra]) + struct.pack(fmt, n)
    raise ValueError("integer too large for CBOR")


def encode(value: object) -> bytes:
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return _head(3, len(raw)) + raw
    if isinstance(value, CID):
        raw = b"\0" + value.bytes
        return _head(6, _CID_TAG) + _head(2, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return _head(4, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return _head(5, len(keys)) + b"".join(encode(k) + encode(value[k]) for k in keys)
    raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def decode(data: bytes) -> object:
    """Decode one item that fills `data` exactly; ValueError on anything malformed or unsupported."""
    value, end = _decode(memoryview(data), 0, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} trailing bytes after CBOR item")
    return value


def decode_prefix(data: bytes, pos: int = 0) -> tuple[object, int]:
    """Decode one item starting at `pos`; return (value, end)."""
    return _decode(memoryview(data), pos, 0)


def _arg(buf: memoryview, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    sizes = {24: 1, 25: 2, 26: 4, 27: 8}
    if info not in sizes:
        raise ValueError(f"unsupported CBOR additional info {info}")
    n = sizes[info]
    if pos + n > len(buf):
        raise ValueError("truncated CBOR")
    return int.from_bytes(buf[pos:pos + n], "big"), pos + n


def _decode(buf: memoryview, pos: int, depth: int) -> tuple[object, int]:
    if depth > 16:
        raise ValueError("CBOR nested too deeply")
    if pos >= len(buf):
        raise ValueError("truncated CBOR")
    ib = buf[pos]
    major, info = ib >> 5, ib & 0x1F
    pos += 1
    if major == 7:
        simple = {20: False, 21: True, 22: None}
        if info not in simple:
            raise ValueError(f"unsupported CBOR simple value {info}")
        return simple[info], pos
    n, pos = _arg(buf, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major in (2, 3):
        if pos + n > len(buf):
            raise ValueError("truncated CBOR string")
        raw = bytes(buf[pos:pos + n])
        return (raw if major == 2 else raw.decode()), pos + n
    if major == 4:
        out = []
        for _ in range(n):
            v, pos = _decode(buf, pos, depth + 1)
            out.append(v)
        return out, pos
    if major == 5:
        obj: dict[str, object] = {}
        for _ in range(n):
            k, pos = _decode(buf, pos, depth + 1)
            if not isinstance(k, str):
                raise ValueError("CBOR map key is not text")
            obj[k], pos = _decode(buf, pos, depth + 1)
        return obj, pos
    if major == 6:
        if n != _CID_TAG:
            raise ValueError(f"unsupported CBOR tag {n}")
        inner, pos = _decode(buf, pos, depth + 1)
        if not isinstance(inner, bytes) or not inner.startswith(b"\0"):
            raise ValueError("CBOR tag 42 must wrap a 0x00-prefixed byte string")
        return CID.decode(inner[1:]), pos
    raise ValueError(f"unsupported CBOR major type {major}")
