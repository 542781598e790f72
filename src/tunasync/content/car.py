"""Deterministic CAR v1 writer (docs/cid.md §2.1): one root, blocks in DFS pre-order, each block once.

The same files give the same bytes, always: a file's DAG (FileDag keeps only the small interior
blocks) is walked from its root and the leaves are read again from the file by offset, so a bundle
CAR can be rebuilt byte-identically from the mirror's files when a storage provider needs it.
Output goes to `out_path + ".tmp"` and is renamed into place only when complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import TracebackType

from ..errors import ContentError
from .chunker import hash_file, open_regular, stat_key
from .cid import CID, encode_varint
from .dagpb import decode_node
from .directory import build_tree
from .filedag import FileDag, leaf_block
from .unixfs import FileChangedError, Profile, decode_data, get_profile


def encode_header(roots: list[CID]) -> bytes:
    """`uvarint(len) ‖ DAG-CBOR {"roots": [...], "version": 1}` (keys sorted length-first)."""
    if not 1 <= len(roots) <= 23:
        raise ValueError("a CAR header here holds 1 to 23 roots")
    body = bytearray(b"\xa2\x65roots" + bytes((0x80 + len(roots),)))
    for root in roots:
        raw = b"\x00" + root.bytes
        body += b"\xd8\x2a" + (bytes((0x40 + len(raw),)) if len(raw) < 24 else b"\x58" + bytes((len(raw),))) + raw
    body += b"\x67version\x01"
    return encode_varint(len(body)) + bytes(body)


class CarWriter:
    """Write sections to `path.tmp`; skip blocks already written; rename on `close()`.

    Use as a context manager: an exception removes the temporary file, nothing appears at `path`.
    """

    def __init__(self, path: str, roots: list[CID]):
        self.path = path
        self.tmp = path + ".tmp"
        self.seen: set[CID] = set()
        self._f = open(self.tmp, "wb")
        self.size = 0
        self._write(encode_header(roots))

    def _write(self, data: bytes | memoryview) -> None:
        self._f.write(data)
        self.size += len(data)

    def add(self, cid: CID, block: bytes | memoryview) -> bool:
        """Append a block unless it is already in the CAR; True when written."""
        if cid in self.seen:
            return False
        self.seen.add(cid)
        cb = cid.bytes
        self._write(encode_varint(len(cb) + len(block)) + cb)
        self._write(block)
        return True

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._f.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> CarWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _emit_file(out: CarWriter, fd: int, path: str, dag: FileDag, cid: CID, offset: int, nbytes: int) -> None:
    """DFS pre-order of one file's sub-DAG at `cid`, covering file bytes [offset, offset+nbytes)."""
    if cid in out.seen:
        return
    block = dag.blocks.get(cid)
    if block is None:  # a leaf: its bytes come from the file
        chunk = os.pread(fd, nbytes, offset)
        if len(chunk) != nbytes:
            raise FileChangedError(path, "file shrank while the CAR was being written")
        out.add(cid, chunk if dag.profile.raw_leaves else leaf_block(chunk))
        return
    out.add(cid, block)
    node = decode_node(block)
    data = decode_data(node.data or b"")
    pos = offset
    for link, size in zip(node.links, data.blocksizes, strict=True):
        _emit_file(out, fd, path, dag, link.cid, pos, size)
        pos += size


def _write_file_blocks(out: CarWriter, path: str, dag: FileDag, hashed_stat: tuple[int, int, int]) -> None:
    with open_regular(path) as f:
        if stat_key(os.fstat(f.fileno())) != hashed_stat:
            raise FileChangedError(path, "file changed between hashing and writing the CAR")
        _emit_file(out, f.fileno(), path, dag, dag.root, 0, dag.size)
        if stat_key(os.fstat(f.fileno())) != hashed_stat:
            raise FileChangedError(path, "file changed while the CAR was being written")


def _hash_for_car(path: str, profile: Profile) -> tuple[FileDag, tuple[int, int, int]]:
    st = stat_key(os.stat(path))
    dag = hash_file(path, profile, keep_blocks=True)
    return dag, st


@dataclass(frozen=True, slots=True)
class CarInfo:
    root: CID
    size: int


@dataclass(frozen=True, slots=True)
class BundleInfo:
    root: CID
    size: int
    files: dict[str, CID] = field(default_factory=dict)


def write_file_car(path: str, out_path: str, profile: str | Profile = "ipfs-car") -> CarInfo:
    """CAR of one file, its root = the file's CID (same blocks as `ipfs-car pack --no-wrap`, DFS order)."""
    prof = get_profile(profile)
    dag, st = _hash_for_car(path, prof)
    with CarWriter(out_path, [dag.root]) as out:
        _write_file_blocks(out, path, dag, st)
    return CarInfo(dag.root, out.size)


def write_bundle_car(base_dir: str, rel_paths: list[str], out_path: str,
                     profile: str | Profile = "ipfs-car") -> BundleInfo:
    """CAR whose root is a UnixFS directory holding `rel_paths` (relative to `base_dir`) at their paths.

    Deterministic: hashing order, directory layout (links sorted by name, sharding by the profile's
    rule) and the DFS pre-order walk depend only on the files' paths and bytes.
    """
    prof = get_profile(profile)
    if not rel_paths:
        raise ContentError(f"{out_path}: a bundle needs at least one file")
    for rel in rel_paths:  # fail before hashing anything
        if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
            raise ContentError(f"{out_path}: invalid relative path {rel!r} for a bundle")
    dags: dict[str, tuple[FileDag, tuple[int, int, int]]] = {}
    for rel in sorted(set(rel_paths)):
        dags[rel] = _hash_for_car(os.path.join(base_dir, rel), prof)
    tree = build_tree({rel: (d.root, d.dag_size) for rel, (d, _) in dags.items()}, prof)
    by_root: dict[CID, str] = {}
    for rel, (d, _) in dags.items():
        by_root.setdefault(d.root, rel)

    with CarWriter(out_path, [tree.root]) as out:

        def walk(cid: CID) -> None:
            if cid in out.seen:
                return
            block = tree.blocks.get(cid)
            if block is None:
                rel = by_root[cid]
                dag, st = dags[rel]
                _write_file_blocks(out, os.path.join(base_dir, rel), dag, st)
                return
            out.add(cid, block)
            for link in decode_node(block).links:
                walk(link.cid)

        walk(tree.root)
    return BundleInfo(tree.root, out.size, {rel: d.root for rel, (d, _) in dags.items()})
