"""UnixFS directories: plain dag-pb directories, sharded when the profile says so (docs/cid.md §1.8).

Pure core: `dir_node(entries, profile)` for one directory and `build_tree(files, profile)` for a set
of files at relative paths (a mirror snapshot, a bundle). Only files make directories, as with
`ipfs-car pack`: a directory with no file below it does not appear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .cid import CID, DAG_PB
from .dagpb import PBLink, encode_node
from .hamt import build_hamt
from .unixfs import Profile, get_profile

DIRECTORY_DATA = b"\x08\x01"  # UnixFS Data{Type: Directory}
SHARD_ENTRIES = 1000  # ipfs-car shards a directory with more than this many entries
SHARD_LINK_BYTES = 262144  # kubo: Σ(len(name) + len(cid bytes)) above this shards (kubo ≥ 0.40 uses `>`)


def should_shard(entries: list[tuple[str, CID, int]], profile: Profile) -> bool:
    """The profile's rule: "entries" (ipfs-car), "links-bytes" (kubo), "block-bytes" (kubo unixfs-v1-2025)."""
    if profile.shard_rule == "entries":
        return len(entries) > SHARD_ENTRIES
    if profile.shard_rule == "links-bytes":
        return sum(len(n.encode("utf-8")) + len(c.bytes) for n, c, _ in entries) > SHARD_LINK_BYTES
    if profile.shard_rule == "block-bytes":
        return len(_plain_block(entries)) > SHARD_LINK_BYTES
    if profile.shard_rule == "never":
        return False
    raise ValueError(f"unknown shard rule {profile.shard_rule!r}")


def _plain_block(entries: list[tuple[str, CID, int]]) -> bytes:
    ordered = sorted(entries, key=lambda e: _name_key(e[0]))
    return encode_node([PBLink(c, n, t) for n, c, t in ordered], DIRECTORY_DATA)


def _name_key(name: str) -> bytes:
    return name.encode("utf-8")


def dir_node(entries: list[tuple[str, CID, int]], profile: str | Profile = "ipfs-car") -> tuple[CID, int, dict[CID, bytes]]:
    """One directory from (name, cid, tsize) entries: (cid, Tsize of the whole sub-DAG, its blocks)."""
    prof = get_profile(profile)
    names = [n for n, _, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError("duplicate names in a directory")
    for n in names:
        if not n or "/" in n:
            raise ValueError(f"invalid directory entry name {n!r}")
    if should_shard(entries, prof):
        return build_hamt(entries, prof)
    block = _plain_block(entries)
    cid = CID.of_block(block, DAG_PB, prof.cid_version)
    return cid, len(block) + sum(t for _, _, t in entries), {cid: block}


@dataclass(slots=True)
class DirTree:
    """A directory DAG: root, total size, the directory (and shard) blocks, and each directory's CID."""

    root: CID
    dag_size: int
    blocks: dict[CID, bytes] = field(default_factory=dict)
    dirs: dict[str, CID] = field(default_factory=dict)  # "" is the root; "a/b" a subdirectory


# A directory being assembled: entry name -> sub-directory, or a file's (CID, Tsize).
_Dir = dict[str, "_Dir | tuple[CID, int]"]


def build_tree(files: dict[str, tuple[CID, int]], profile: str | Profile = "ipfs-car") -> DirTree:
    """Directory DAG holding `files` {relative/path: (cid, tsize)} at their paths."""
    prof = get_profile(profile)
    root: _Dir = {}
    for rel, value in files.items():
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid relative path {rel!r}")
        node = root
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ValueError(f"{rel!r}: {p!r} is both a file and a directory")
            node = child
        if parts[-1] in node:
            raise ValueError(f"{rel!r}: duplicate path or both a file and a directory")
        node[parts[-1]] = value
    tree = DirTree(root=CID.v1(DAG_PB, b""), dag_size=0)

    def build(node: _Dir, path: str) -> tuple[CID, int]:
        entries: list[tuple[str, CID, int]] = []
        for name, child in node.items():
            if isinstance(child, dict):
                cid, tsize = build(child, f"{path}/{name}" if path else name)
            else:
                cid, tsize = child
            entries.append((name, cid, tsize))
        cid, tsize, blocks = dir_node(entries, prof)
        tree.blocks.update(blocks)
        tree.dirs[path] = cid
        return cid, tsize

    tree.root, tree.dag_size = build(root, "")
    return tree


class StreamingTree:
    """`build_tree` for files that arrive in sorted path order, holding only the open directories.

    `add(rel, cid, tsize)` for each file, paths strictly ascending (code point order, as SQLite and
    `sorted()` give them): the files of one directory are then contiguous, so a directory is finished
    and encoded as soon as a path leaves it, and only its (name, cid, tsize) entries are held until
    then. Each directory (and shard) block goes to `emit(cid, block)` as it is made; `finish()`
    returns (root, Tsize). Same blocks and root as `build_tree` of the same files.
    """

    def __init__(self, emit: Callable[[CID, bytes], None], profile: str | Profile = "ipfs-car"):
        self.profile = get_profile(profile)
        self.emit = emit
        self._names: list[str] = []  # the open directories below the root
        self._entries: list[list[tuple[str, CID, int]]] = [[]]  # entries of the root and each open directory
        self._last: str | None = None
        self.files = 0

    def add(self, rel: str, cid: CID, tsize: int) -> None:
        parts = rel.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid relative path {rel!r}")
        if self._last is not None and rel <= self._last:
            raise ValueError(f"{rel!r} after {self._last!r}: paths must be unique and in sorted order")
        self._last = rel
        dirs = parts[:-1]
        common = 0
        while common < len(self._names) and common < len(dirs) and self._names[common] == dirs[common]:
            common += 1
        self._close_to(common)
        for name in dirs[common:]:
            self._names.append(name)
            self._entries.append([])
        self._entries[-1].append((parts[-1], cid, tsize))
        self.files += 1

    def _close_to(self, depth: int) -> None:
        while len(self._names) > depth:
            name = self._names.pop()
            cid, tsize, blocks = dir_node(self._entries.pop(), self.profile)
            for bcid, block in blocks.items():
                self.emit(bcid, block)
            self._entries[-1].append((name, cid, tsize))

    def finish(self) -> tuple[CID, int]:
        self._close_to(0)
        cid, tsize, blocks = dir_node(self._entries[0], self.profile)
        for bcid, block in blocks.items():
            self.emit(bcid, block)
        return cid, tsize
