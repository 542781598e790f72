"""DAG-PB: canonical writing (Links before Data, empty Name kept) and strict reading."""

from __future__ import annotations

import pytest

from tunasync.content.cid import CID, DAG_PB, RAW
from tunasync.content.dagpb import DagPbError, PBLink, PBNode, decode_node, encode_node

LEAF = CID.of_block(b"x", RAW)


def test_hello_world_leaf_is_byte_exact():
    block = encode_node([], bytes.fromhex("0802120c68656c6c6f20776f726c640a180c"))
    assert block.hex() == "0a120802120c68656c6c6f20776f726c640a180c"
    assert str(CID.of_block(block, DAG_PB, 0)) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"


def test_the_empty_block_is_valid():
    assert decode_node(b"") == PBNode((), None)
    assert str(CID.of_block(b"", DAG_PB)) == "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert str(CID.of_block(b"", DAG_PB, 0)) == "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"


def test_links_come_first_and_the_empty_name_is_written():
    block = encode_node([PBLink(LEAF, "", 1)], b"\x08\x02")
    assert block.startswith(b"\x12\x2a\x0a\x24" + LEAF.bytes + b"\x12\x00\x18\x01")
    assert block.endswith(b"\x0a\x02\x08\x02")
    assert decode_node(block) == PBNode((PBLink(LEAF, "", 1),), b"\x08\x02")
    no_name = encode_node([PBLink(LEAF, None, None)], None)
    assert decode_node(no_name).links[0] == PBLink(LEAF, None, None)


def test_data_before_links_is_accepted():
    link = encode_node([PBLink(LEAF, "a", 1)], None)
    data = b"\x0a\x02\x08\x01"
    assert decode_node(data + link) == PBNode((PBLink(LEAF, "a", 1),), b"\x08\x01")


@pytest.mark.parametrize("bad, why", [
    (b"\x1a\x00", "unknown node field"),
    (b"\x0a\x01", "length runs past the end"),
    (b"\x0a\x00\x0a\x00", "duplicate Data"),
    (b"\x12\x02\x18\x01", "link without Hash"),
    (b"\x12\x04\x12\x00\x0a\x00", "link fields out of order"),
    (b"\x12\x03\x0a\x01\x00", "Hash that is not a CID"),
    (b"\x0a\x80", "truncated varint"),
    (b"\x12\x02\x20\x01", "unknown link field"),
])
def test_malformed_blocks_are_rejected(bad, why):
    with pytest.raises(DagPbError):
        decode_node(bad)


def test_links_split_around_data_are_rejected():
    link = encode_node([PBLink(LEAF, "a", 1)], None)
    with pytest.raises(DagPbError, match="split"):
        decode_node(link + b"\x0a\x00" + link)
