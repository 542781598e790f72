"""The devnet's tipsets: one block per epoch, with a full block header as `Filecoin.ChainHead` shows it.

The JSON fields are those of Lotus' `types.BlockHeader` (Miner, Ticket, ElectionProof, BeaconEntries,
WinPoStProof, Parents, ParentWeight, Height, ParentStateRoot, ParentMessageReceipts, Messages,
BLSAggregate, Timestamp, BlockSig, ForkSignaling, ParentBaseFee). The block CID is a real one: CIDv1,
codec dag-cbor (0x71), multihash blake2b-256 (0xb220) of the DAG-CBOR array of those sixteen fields
(addresses, big integers and signatures in their binary forms), so it starts `bafy2bzace` like every
Filecoin block CID, and it changes with every field. Proofs and signatures are deterministic filler bytes:
the devnet has no consensus.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ...content import dagcbor as cbor
from ...content.cid import CID, DAG_CBOR, encode_varint

BLAKE2B_256 = 0xB220


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def blake_cid(data: bytes) -> CID:
    return CID.v1(DAG_CBOR, hashlib.blake2b(data, digest_size=32).digest(), BLAKE2B_256)


def _filler(tag: str, height: int, n: int) -> bytes:
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{tag}-{height}-{i}".encode()).digest()
        i += 1
    return out[:n]


def _bigint(n: int) -> bytes:
    """A Filecoin BigInt in CBOR: empty for zero, else a sign byte (0) and big-endian magnitude."""
    return b"" if n == 0 else b"\0" + n.to_bytes((n.bit_length() + 7) // 8, "big")


def _id_address(actor: str) -> bytes:
    return b"\0" + encode_varint(int(actor[2:]))


def block_header(miner: str, height: int, parents: list[CID], timestamp: int) -> tuple[CID, dict[str, Any]]:
    """(block CID, header JSON) of the devnet's block at `height`."""
    vrf = _filler("ticket", height, 96)
    election = _filler("election", height, 96)
    beacon = _filler("beacon", height, 48)
    post = _filler("winpost", height, 192)
    bls = _filler("bls", height, 96)
    sig = _filler("sig", height, 96)
    weight = 1000 * height
    state_root = blake_cid(cbor.encode(["stateroot", height]))
    receipts = blake_cid(cbor.encode(["receipts", height]))
    messages = blake_cid(cbor.encode(["messages", height]))
    base_fee = 100
    drand_round = 1_000_000 + height
    fields = [_id_address(miner), [vrf], [1, election], [[drand_round, beacon]], [[3, post]], list(parents),
              _bigint(weight), height, state_root, receipts, messages, b"\x02" + bls, timestamp, b"\x02" + sig, 0,
              _bigint(base_fee)]
    cid = blake_cid(cbor.encode(fields))
    header = {
        "Miner": miner,
        "Ticket": {"VRFProof": b64(vrf)},
        "ElectionProof": {"WinCount": 1, "VRFProof": b64(election)},
        "BeaconEntries": [{"Round": drand_round, "Data": b64(beacon)}],
        "WinPoStProof": [{"PoStProof": 3, "ProofBytes": b64(post)}],
        "Parents": [{"/": str(p)} for p in parents],
        "ParentWeight": str(weight),
        "Height": height,
        "ParentStateRoot": {"/": str(state_root)},
        "ParentMessageReceipts": {"/": str(receipts)},
        "Messages": {"/": str(messages)},
        "BLSAggregate": {"Type": 2, "Data": b64(bls)},
        "Timestamp": timestamp,
        "BlockSig": {"Type": 2, "Data": b64(sig)},
        "ForkSignaling": 0,
        "ParentBaseFee": str(base_fee),
    }
    return cid, header


def header_cid(header: dict[str, Any]) -> CID:
    """Recompute a devnet block's CID from its JSON header (what a client can check)."""
    d = base64.b64decode
    fields = [_id_address(header["Miner"]), [d(header["Ticket"]["VRFProof"])],
              [header["ElectionProof"]["WinCount"], d(header["ElectionProof"]["VRFProof"])],
              [[e["Round"], d(e["Data"])] for e in header["BeaconEntries"]],
              [[p["PoStProof"], d(p["ProofBytes"])] for p in header["WinPoStProof"]],
              [CID.decode(p["/"]) for p in header["Parents"]], _bigint(int(header["ParentWeight"])), header["Height"],
              CID.decode(header["ParentStateRoot"]["/"]), CID.decode(header["ParentMessageReceipts"]["/"]),
              CID.decode(header["Messages"]["/"]), bytes([header["BLSAggregate"]["Type"]]) + d(header["BLSAggregate"]["Data"]),
              header["Timestamp"], bytes([header["BlockSig"]["Type"]]) + d(header["BlockSig"]["Data"]),
              header["ForkSignaling"], _bigint(int(header["ParentBaseFee"]))]
    return blake_cid(cbor.encode(fields))


class Tipsets:
    """The head tipset, advanced by the chain at each tick (wall-clock timestamps)."""

    def __init__(self, miner: str, height: int, now: float):
        parent = blake_cid(cbor.encode(["devnet-parent", height - 1]))
        self.miner = miner
        self.cid, self.header = block_header(miner, height, [parent], int(now))

    def advance(self, height: int, now: float) -> None:
        self.cid, self.header = block_header(self.miner, height, [self.cid], int(now))

    def json(self) -> dict[str, Any]:
        return {"Cids": [{"/": str(self.cid)}], "Blocks": [self.header], "Height": self.header["Height"]}
