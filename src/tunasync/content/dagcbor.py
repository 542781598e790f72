"""DAG-CBOR: the one encoder and the one strict decoder of the project.

Used for CAR headers (content/carread.py), IPNI metadata and Curio ContextIDs (filecoin/ipni.py) and the
devnet's chain objects. The IPLD DAG-CBOR specification (ipld/specs block-layer/codecs/dag-cbor.md,
"Strictness"; RFC 8949 §4.2 for the deterministic encoding it builds on) allows exactly one encoding of
each value, and the decoder accepts only that one:

    integers and lengths in their shortest form       no indefinite lengths (additional info 31)
    map keys are text, unique, sorted length-first     tag 42 (a CID, 0x00-prefixed bytes) and no other
    floats only as 64-bit, never NaN or infinities     simple values: false, true, null only
    text is valid UTF-8                                 nothing after the item (`decode`)

Anything else is a `DagCborError` (a CodecError, so also a ValueError) saying what and where.
Values: int, bytes, str, list, dict[str, ...], bool, None, float, CID.
"""

from __future__ import annotations

import math
import struct

from ..errors import CodecError
from .cid import CID

CID_TAG = 42
MAX_DEPTH = 16  # deeper than anything a CAR header or an IPNI record needs
_HEAD_SIZES = {24: 1, 25: 2, 26: 4, 27: 8}
_SIMPLE: dict[int, object] = {20: False, 21: True, 22: None}


class DagCborError(CodecError):
    """Bytes that are not one strict DAG-CBOR item; the message names the byte offset."""


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


# -- encoding ---------------------------------------------------------------------------------------
def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 1 << 8:
        return bytes((major << 5 | 24, n))
    if n < 1 << 16:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 1 << 32:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    if n < 1 << 64:
        return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")
    raise ValueError("integer too large for CBOR")


def encode(value: object) -> bytes:
    """The canonical DAG-CBOR bytes of `value`; TypeError for a value DAG-CBOR cannot hold."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def _encode(value: object, out: bytearray) -> None:
    if value is True:
        out += b"\xf5"
    elif value is False:
        out += b"\xf4"
    elif value is None:
        out += b"\xf6"
    elif isinstance(value, int):
        out += _head(0, value) if value >= 0 else _head(1, -1 - value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("DAG-CBOR has no NaN or infinities")
        out += b"\xfb" + struct.pack(">d", value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out += _head(2, len(value))
        out += value
    elif isinstance(value, str):
        raw = value.encode()
        out += _head(3, len(raw)) + raw
    elif isinstance(value, CID):
        raw = b"\0" + value.bytes
        out += _head(6, CID_TAG) + _head(2, len(raw)) + raw
    elif isinstance(value, (list, tuple)):
        out += _head(4, len(value))
        for v in value:
            _encode(v, out)
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("DAG-CBOR map keys must be text")
        keys = sorted(value, key=_key_order)
        out += _head(5, len(keys))
        for k in keys:
            _encode(k, out)
            _encode(value[k], out)
    else:
        raise TypeError(f"cannot DAG-CBOR-encode {type(value).__name__}")


# -- decoding ---------------------------------------------------------------------------------------
def decode(data: bytes | bytearray | memoryview) -> object:
    """The one item that fills `data` exactly; DagCborError on anything else."""
    buf = bytes(data)
    value, end = _decode(buf, 0, 0)
    if end != len(buf):
        raise DagCborError(f"{len(buf) - end} trailing byte(s) after the DAG-CBOR item at byte {end}")
    return value


def decode_prefix(data: bytes | bytearray | memoryview, pos: int = 0) -> tuple[object, int]:
    """The item starting at `pos`, and the offset just past it (items may follow)."""
    return _decode(bytes(data), pos, 0)


def _arg(buf: bytes, pos: int, info: int, start: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    n = _HEAD_SIZES.get(info)
    if n is None:
        what = "indefinite length" if info == 31 else f"reserved additional info {info}"
        raise DagCborError(f"{what} at byte {start}")
    end = pos + n
    if end > len(buf):
        raise DagCborError(f"truncated item head at byte {start}")
    value = int.from_bytes(buf[pos:end], "big")
    if value < (24 if n == 1 else 1 << (4 * n)):  # 1 byte from 24, 2 from 256, 4 from 65536, ...
        raise DagCborError(f"integer or length {value} not in its shortest form at byte {start}")
    return value, end


def _decode(buf: bytes, pos: int, depth: int) -> tuple[object, int]:
    if depth > MAX_DEPTH:
        raise DagCborError(f"nested deeper than {MAX_DEPTH} levels at byte {pos}")
    if pos >= len(buf):
        raise DagCborError(f"truncated: an item expected at byte {pos}")
    start = pos
    ib = buf[pos]
    major, info = ib >> 5, ib & 0x1F
    pos += 1
    if major == 7:
        if info in _SIMPLE:
            return _SIMPLE[info], pos
        if info == 27:
            if pos + 8 > len(buf):
                raise DagCborError(f"truncated float at byte {start}")
            (f,) = struct.unpack(">d", buf[pos:pos + 8])
            if not math.isfinite(f):
                raise DagCborError(f"NaN or infinity at byte {start}")
            return f, pos + 8
        what = "float not in 64-bit form" if info in (25, 26) else f"simple value {info}"
        raise DagCborError(f"{what} at byte {start} (DAG-CBOR allows false, true, null, 64-bit floats)")
    n, pos = _arg(buf, pos, info, start)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        end = pos + n
        if end > len(buf):
            raise DagCborError(f"truncated string at byte {start}: {n} bytes announced")
        raw = buf[pos:end]
        if major == 2:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError:
            raise DagCborError(f"text at byte {start} is not valid UTF-8") from None
    if major == 4:
        if n > len(buf) - pos:  # every item takes a byte at least: refuse absurd counts before looping
            raise DagCborError(f"truncated array at byte {start}: {n} items announced")
        items = []
        for _ in range(n):
            v, pos = _decode(buf, pos, depth + 1)
            items.append(v)
        return items, pos
    if major == 5:
        if n > len(buf) - pos:
            raise DagCborError(f"truncated map at byte {start}: {n} entries announced")
        out: dict[str, object] = {}
        last: tuple[int, bytes] | None = None
        for _ in range(n):
            at = pos
            k, pos = _decode(buf, pos, depth + 1)
            if not isinstance(k, str):
                raise DagCborError(f"map key at byte {at} is not text")
            order = _key_order(k)
            if last is not None and order <= last:
                why = "repeated" if order == last else "out of order (length first, then bytes)"
                raise DagCborError(f"map key {k!r} at byte {at} is {why}")
            last = order
            out[k], pos = _decode(buf, pos, depth + 1)
        return out, pos
    if major == 6:
        if n != CID_TAG:
            raise DagCborError(f"tag {n} at byte {start}: DAG-CBOR allows tag 42 (CID) only")
        inner, pos = _decode(buf, pos, depth + 1)
        if not isinstance(inner, bytes) or not inner.startswith(b"\0"):
            raise DagCborError(f"tag 42 at byte {start} must wrap 0x00-prefixed bytes")
        try:
            return CID.decode(inner[1:]), pos
        except ValueError as exc:
            raise DagCborError(f"tag 42 at byte {start}: not a CID ({exc})") from None
    raise AssertionError("unreachable: all eight major types handled")  # pragma: no cover
