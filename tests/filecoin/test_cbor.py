"""The tiny DAG-CBOR subset: canonical encoding and strict decoding."""

from __future__ import annotations

import pytest

from tunasync.content.cid import CID
from tunasync.filecoin import cbor

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
