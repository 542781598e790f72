"""DAG-CBOR (content/dagcbor.py), the one codec of the project: canonical encoding, strict decoding.

The strictness rows follow the IPLD DAG-CBOR specification, ipld/specs block-layer/codecs/dag-cbor.md
section "Strictness" (shortest integers and lengths, no indefinite lengths, text map keys sorted
length-first without repeats, tag 42 only, 64-bit floats only and never NaN/infinities), with RFC 8949
§3 for the byte layout of each item."""

from __future__ import annotations

import pytest

from tunasync.content import dagcbor as cbor
from tunasync.content.cid import CID

P = CID.decode("baga6ea4seaqbyafx5e5lzyqq2upjo5j4ziulp6phikah6p7ujgv2cmqrkxcqepq")


def test_round_trip_and_canonical_key_order():
    value = {"VerifiedDeal": False, "PieceCID": P, "FastRetrieval": True, "n": [0, 23, 24, 255, 65536, 1 << 40]}
    raw = cbor.encode(value)
    assert cbor.decode(raw) == value
    assert raw[1:3] == b"\x61n"  # shortest key first (DAG-CBOR: length, then bytes)
    assert cbor.encode([2048, P])[:4] == bytes.fromhex("82190800")  # Curio ContextID [PaddedSize, PieceCID]


@pytest.mark.parametrize("bad", [b"", b"\xa1", b"\xa1\x01\x02", b"\xc1\x00", b"\xd8\x2a\x41\x01", b"\x01\x02",
                                 b"\xf9\x00\x00", b"\x5a\xff\xff\xff\xff"])
def test_malformed_is_value_error(bad):
    with pytest.raises(ValueError):
        cbor.decode(bad)


@pytest.mark.parametrize(("bad", "why"), [
    (b"\x18\x17", "shortest form"),  # 23 in one extra byte: it fits in the head
    (b"\x19\x00\xff", "shortest form"),  # 255 in two bytes
    (b"\x1a\x00\x00\xff\xff", "shortest form"),  # 65535 in four bytes
    (b"\x1b\x00\x00\x00\x00\xff\xff\xff\xff", "shortest form"),  # 2**32-1 in eight bytes
    (b"\x58\x01a", "shortest form"),  # a 1-byte string with its length in an extra byte
    (b"\x9f\xff", "indefinite length"),  # RFC 8949 §3.2.2 indefinite array
    (b"\x5f\x41a\xff", "indefinite length"),
    (b"\xa2\x61b\x01\x61a\x02", "out of order"),  # {"b":1,"a":2}: bytes order broken
    (b"\xa2\x62aa\x01\x61b\x02", "out of order"),  # {"aa":1,"b":2}: length first, so "b" goes first
    (b"\xa2\x61a\x01\x61a\x02", "repeated"),
    (b"\xa1\x01\x02", "not text"),
    (b"\xc1\x00", "tag 1"),
    (b"\xd8\x2a\x41\x01", "0x00-prefixed"),
    (b"\xf9\x3c\x00", "64-bit"),  # 1.0 as a half float
    (b"\xfa\x3f\x80\x00\x00", "64-bit"),  # 1.0 as a single float
    (b"\xfb\x7f\xf8\x00\x00\x00\x00\x00\x00", "NaN"),
    (b"\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00", "NaN or infinity"),
    (b"\xf7", "simple value 23"),  # undefined
    (b"\x62\xc3\x28", "UTF-8"),
    (b"\x81", "truncated"),
    (b"\x9a\x7f\xff\xff\xff", "truncated array"),  # two billion items announced, none there
    (b"\x01\x02", "trailing"),
])
def test_only_the_one_canonical_encoding_is_accepted(bad, why):
    with pytest.raises(cbor.DagCborError, match=why):
        cbor.decode(bad)


def test_what_the_spec_allows_round_trips():
    value = {"a": -1, "bb": [1.5, None, True, b"\x00"], "ccc": "\u00e9", "": {"x": -(1 << 63)}}
    raw = cbor.encode(value)
    assert cbor.decode(raw) == value
    assert cbor.encode(cbor.decode(raw)) == raw
    assert list(cbor.decode(raw)) == ["", "a", "bb", "ccc"]
    assert cbor.decode(b"\xfb\x3f\xf8\x00\x00\x00\x00\x00\x00") == 1.5  # RFC 8949 Appendix A


def test_errors_are_codec_errors_and_value_errors():
    from tunasync.errors import CodecError, TunasyncError
    with pytest.raises(CodecError) as info:
        cbor.decode(b"\x18\x01")
    assert isinstance(info.value, ValueError) and isinstance(info.value, TunasyncError)
    assert "byte 0" in str(info.value)
