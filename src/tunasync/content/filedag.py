"""The balanced file DAG, built as leaves arrive (docs/cid.md §1.5), in memory O(width × depth).

Leaves are grouped `width` at a time into parents as soon as a group is full, then parents likewise;
`finish()` wraps the partial groups bottom-up (a group of one is still wrapped unless it is the
root). This is exactly the importer's "group level by level until one node remains".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .cid import CID, DAG_PB, RAW, encode_varint
from .dagpb import PBLink, encode_node
from .unixfs import Profile, file_data, get_profile, leaf_data

# one finished node: (cid, file bytes under it, Tsize = bytes of its whole sub-DAG)
Entry = tuple[CID, int, int]


@dataclass(slots=True)
class FileDag:
    """A file's DAG: its root, sizes, and the interior blocks (leaves are re-read from the file)."""

    root: CID
    size: int
    dag_size: int
    profile: Profile
    blocks: dict[CID, bytes] = field(default_factory=dict)

    def is_leaf(self, cid: CID) -> bool:
        return cid not in self.blocks


def make_leaf(profile: Profile, chunk: bytes | bytearray | memoryview) -> tuple[CID, int]:
    """(CID, Tsize) of one chunk as a leaf block of this profile. Thread-safe; hashlib drops the GIL."""
    if profile.raw_leaves:
        return CID(1, RAW, 0x12, hashlib.sha256(chunk).digest()), len(chunk)
    block = leaf_block(chunk)
    digest = hashlib.sha256(block).digest()
    cid = CID(0, DAG_PB, 0x12, digest) if profile.cid_version == 0 else CID(1, DAG_PB, 0x12, digest)
    return cid, len(block)


def leaf_block(chunk: bytes | bytearray | memoryview) -> bytes:
    """The dag-pb leaf block for a chunk (kubo CIDv0 profile): PBNode{Data: UnixFS File with the chunk}."""
    data = leaf_data(chunk)
    return b"\x0a" + encode_varint(len(data)) + data


class FileBuilder:
    """Streaming UnixFS file importer: `update(bytes)` any number of times, then `finish()`."""

    def __init__(self, profile: str | Profile = "ipfs-car", keep_blocks: bool = True):
        self.profile = get_profile(profile)
        self.keep_blocks = keep_blocks
        self.blocks: dict[CID, bytes] = {}
        self._levels: list[list[Entry]] = [[]]
        self._pending = bytearray()
        self._size = 0
        self._leaves = 0
        self._done = False

    @property
    def size(self) -> int:
        return self._size + len(self._pending)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed file bytes; full chunks are hashed now."""
        cs = self.profile.chunk_size
        mv = memoryview(data)
        if self._pending:
            take = min(cs - len(self._pending), len(mv))
            self._pending += mv[:take]
            mv = mv[take:]
            if len(self._pending) == cs:
                self._chunk(self._pending)
                self._pending = bytearray()
        while len(mv) >= cs:
            self._chunk(mv[:cs])
            mv = mv[cs:]
        if len(mv):
            self._pending += mv

    def _chunk(self, chunk: bytes | bytearray | memoryview) -> None:
        cid, tsize = make_leaf(self.profile, chunk)
        self.add_leaf(cid, len(chunk), tsize)

    def add_leaf(self, cid: CID, nbytes: int, tsize: int) -> None:
        """Append a leaf hashed elsewhere (the threaded file reader uses this)."""
        self._size += nbytes
        self._leaves += 1
        self._push(0, (cid, nbytes, tsize))

    def _push(self, level: int, entry: Entry) -> None:
        levels = self._levels
        if level == len(levels):
            levels.append([])
        levels[level].append(entry)
        if len(levels[level]) == self.profile.width:
            group = levels[level]
            levels[level] = []
            self._push(level + 1, self._parent(group))

    def _parent(self, children: list[Entry]) -> Entry:
        links = [PBLink(c, "", t) for c, _, t in children]
        sizes = [n for _, n, _ in children]
        block = encode_node(links, file_data(sum(sizes), sizes))
        cid = CID.of_block(block, DAG_PB, self.profile.cid_version)
        if self.keep_blocks:
            self.blocks[cid] = block
        return cid, sum(sizes), len(block) + sum(t for _, _, t in children)

    def finish(self) -> FileDag:
        """Close the file: hash the last chunk, wrap partial groups, return the DAG."""
        if self._done:
            raise RuntimeError("FileBuilder.finish() called twice")
        self._done = True
        if self._pending or self._leaves == 0:
            self._chunk(self._pending)
            self._pending = bytearray()
        levels = self._levels
        k = 0
        while True:
            higher = any(levels[j] for j in range(k + 1, len(levels)))
            if levels[k]:
                if len(levels[k]) == 1 and not higher:
                    root, size, tsize = levels[k][0]
                    return FileDag(root, size, tsize, self.profile, self.blocks)
                group = levels[k]
                levels[k] = []
                if k + 1 == len(levels):
                    levels.append([])
                levels[k + 1].append(self._parent(group))
            k += 1
