"""HAMT-sharded UnixFS directories (Type=5), as @ipld/unixfs (ipfs-car) and go-unixfs (kubo) build them.

Fanout 256 (8 hash bits per level), hash = murmur3-x64-64 of the entry name (the first 8 bytes of
murmur3-x64-128, h1 big-endian); deeper than 8 levels the hash continues with murmur3(name ‖ level/8).
Each bucket holds one entry or a sub-shard (created when two names collide). Link names: two
upper-case hex digits of the bucket, followed by the entry name for an entry. Data: the occupied
bucket bitmap as a big-endian integer without leading zero bytes, hashType 0x22, fanout 256.
"""

from __future__ import annotations

from typing import Any

from .cid import CID, DAG_PB
from .dagpb import PBLink, encode_node
from .unixfs import HAMT_SHARD, MURMUR3_X64_64, Profile, UnixFSData, encode_data

FANOUT = 256
_M64 = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def murmur3_x64_128(data: bytes, seed: int = 0) -> bytes:
    """MurmurHash3 x64 128-bit: h1 ‖ h2, each big-endian (as the JS and Go UnixFS HAMTs read it)."""
    h1 = h2 = seed
    n = len(data)
    nblocks = n // 16
    for i in range(nblocks):
        k1 = int.from_bytes(data[16 * i : 16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
        k1 = (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 ^= k1
        h1 = (((_rotl(h1, 27) + h2) & _M64) * 5 + 0x52DCE729) & _M64
        k2 = (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 ^= k2
        h2 = (((_rotl(h2, 31) + h1) & _M64) * 5 + 0x38495AB5) & _M64
    tail = data[16 * nblocks :]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1.to_bytes(8, "big") + h2.to_bytes(8, "big")


def murmur3_x64_64(data: bytes) -> bytes:
    return murmur3_x64_128(data)[:8]


def bucket(name: bytes, depth: int, first_frame: bytes | None = None) -> int:
    """The bucket index of `name` at `depth` (8 bits per level; a new hash frame every 8 levels)."""
    frame, byte = divmod(depth, 8)
    if frame == 0:
        digest = first_frame if first_frame is not None else murmur3_x64_64(name)
    else:
        digest = murmur3_x64_64(name + bytes((frame,)))
    return digest[byte]


# a shard in construction: bucket -> ((name, cid, tsize), name bytes, first hash frame) | nested shard
_Shard = dict[int, Any]


def _insert(shard: _Shard, entry: tuple[str, CID, int], key: bytes, frame0: bytes, depth: int) -> None:
    """Put an entry (with its name's first hash frame, computed once) into a shard in construction."""
    b = bucket(key, depth, frame0)
    cur = shard.get(b)
    if cur is None:
        shard[b] = (entry, key, frame0)
    elif isinstance(cur, dict):
        _insert(cur, entry, key, frame0, depth + 1)
    else:
        sub: _Shard = {}
        old_entry, old_key, old_frame = cur
        _insert(sub, old_entry, old_key, old_frame, depth + 1)
        _insert(sub, entry, key, frame0, depth + 1)
        shard[b] = sub


def _encode(shard: _Shard, profile: Profile, blocks: dict[CID, bytes]) -> tuple[CID, int]:
    links: list[PBLink] = []
    child_total = 0
    bitmap = 0
    for b in sorted(shard):
        bitmap |= 1 << b
        item = shard[b]
        prefix = f"{b:02X}"
        if isinstance(item, dict):
            cid, tsize = _encode(item, profile, blocks)
            links.append(PBLink(cid, prefix, tsize))
        else:
            name, cid, tsize = item[0]
            links.append(PBLink(cid, prefix + name, tsize))
        child_total += tsize
    bits = bitmap.to_bytes(FANOUT // 8, "big").lstrip(b"\0")
    data = UnixFSData(HAMT_SHARD, data=bits or None, hash_type=MURMUR3_X64_64, fanout=FANOUT)
    # the prefix keeps names unique per shard, so sorting by name = sorting by bucket (as dag-pb prepare does)
    links.sort(key=lambda link: (link.name or "").encode("utf-8"))
    block = encode_node(links, encode_data(data))
    cid = CID.of_block(block, DAG_PB, profile.cid_version)
    blocks[cid] = block
    return cid, len(block) + child_total


def build_hamt(entries: list[tuple[str, CID, int]], profile: Profile) -> tuple[CID, int, dict[CID, bytes]]:
    """Build a sharded directory from (name, cid, tsize) entries; return (root, Tsize, blocks)."""
    root: _Shard = {}
    for entry in entries:
        key = entry[0].encode("utf-8")
        _insert(root, entry, key, murmur3_x64_64(key), 0)
    blocks: dict[CID, bytes] = {}
    cid, tsize = _encode(root, profile, blocks)
    return cid, tsize, blocks
