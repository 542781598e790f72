"""Deterministic CAR v1 writer (docs/cid.md §2.1): one root, blocks in DFS pre-order, each block once.

The same files give the same bytes, always: a file's DAG (FileDag keeps only the small interior
blocks) is walked from its root and the leaves are read again from the file by offset, so a bundle
CAR can be rebuilt byte-identically from the mirror's files when a storage provider needs it.
Output goes to `out_path + ".tmp"` and is renamed into place only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO

from ..errors import ContentError
from .chunker import hash_file, open_regular, stat_key
from .cid import CID, encode_varint
from .dagpb import decode_node
from .directory import StreamingTree
from .filedag import FileDag, leaf_block, make_leaf
from .unixfs import HAMT_SHARD, FileChangedError, Profile, decode_data, get_profile


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

    def add(self, cid: CID, block: bytes | memoryview, remember: bool = True) -> bool:
        """Append a block unless it is already in the CAR; True when written. `remember=False`: the
        caller knows this CID comes once, so it is not kept in `seen` (whose size it would grow)."""
        if cid in self.seen:
            return False
        if remember:
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


def write_bundle_car(base_dir: str, rel_paths: Iterable[str] | Iterable[tuple[str, str]], out_path: str,
                     profile: str | Profile = "ipfs-car", *, expected_files: int = 0) -> BundleInfo:
    """CAR whose root is a UnixFS directory holding `rel_paths` (relative to `base_dir`) at their paths.

    Deterministic: hashing order, directory layout (links sorted by name, sharding by the profile's
    rule) and the DFS pre-order walk depend only on the files' paths and bytes.

    A list, tuple or set of paths is sorted here (and `BundleInfo.files` lists each file's CID). Any
    other iterable is streamed: it must give each path once, in ascending order, optionally paired with
    the CID recorded for it (`(path, cid)`: a file whose bytes no longer give that CID raises
    FileChangedError naming it), and memory stays bounded by the largest directory, not the number of
    files (see `_BundleWriter`). `expected_files`: about how many files come (sizes a filter).
    """
    prof = get_profile(profile)
    if isinstance(rel_paths, (list, tuple, set, frozenset)):
        paths = sorted({p if isinstance(p, str) else p[0] for p in rel_paths})
        for rel in paths:  # fail before hashing anything
            _check_rel(out_path, rel)
        w = _BundleWriter(base_dir, out_path, prof, len(paths), keep_files=True)
        return w.write((p, None) for p in paths)
    items = ((p, None) if isinstance(p, str) else p for p in rel_paths)
    return _BundleWriter(base_dir, out_path, prof, expected_files).write(items)


def _check_rel(out_path: str, rel: str) -> None:
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
        raise ContentError(f"{out_path}: invalid relative path {rel!r} for a bundle")


class _Bloom:
    """A set that may answer "maybe" for what it never held (never "no" for what it did)."""

    def __init__(self, n: int):
        self.bits = max(1 << 20, 16 * n)
        self.a = bytearray((self.bits + 7) // 8)

    def add(self, digest: bytes) -> bool:
        """Add; True when it (maybe) held it already."""
        hit = True
        for i in (0, 8, 16, 24):  # sha2-256 digests: four independent 64-bit slices
            k = int.from_bytes(digest[i : i + 8], "little") % self.bits
            byte, bit = k >> 3, 1 << (k & 7)
            if not self.a[byte] & bit:
                hit = False
                self.a[byte] |= bit
        return hit


class _BundleWriter:
    """Two passes over the files, in sorted path order, with bounded memory.

    1. Hash every file (its root CID and Tsize) into a `StreamingTree`; the directory blocks go to a
       spill file (`<out>.dirs.tmp`) and only their offsets stay in memory.
    2. Write the CAR: DFS pre-order from the root, directory blocks read back from the spill file,
       each file hashed again as it is reached and checked against the CID of pass 1 (so the bytes
       written are the bytes that gave that CID), its path found from the link names.

    A block is written once. Rather than a set of every CID, the exact `seen` set holds only what can
    repeat: directory blocks, every block of a file of more than one chunk (so at most bundle bytes /
    chunk size of them), and the one-block files whose CID a Bloom filter of pass 1 saw before (a
    repeated CID always is; a false "maybe" only costs a set entry). Every other one-block file is
    known to occur once and is written without being remembered.
    """

    def __init__(self, base_dir: str, out_path: str, profile: Profile, expected: int, keep_files: bool = False):
        self.base = base_dir
        self.out_path = out_path
        self.prof = profile
        self.bloom = _Bloom(expected)
        self.maybe_repeated: set[CID] = set()
        self.multi: set[CID] = set()  # every block CID of the files of more than one chunk
        self.dirs: dict[CID, tuple[int, int]] = {}  # directory block -> (offset, length) in the spill file
        self.files: dict[str, CID] | None = {} if keep_files else None
        self.spill_path = out_path + ".dirs.tmp"
        self._spill: BinaryIO | None = None
        self._spill_size = 0

    def _emit_dir(self, cid: CID, block: bytes) -> None:
        if cid in self.dirs:
            return
        assert self._spill is not None
        self._spill.write(block)
        self.dirs[cid] = (self._spill_size, len(block))
        self._spill_size += len(block)

    def _read_dir(self, cid: CID) -> bytes | None:
        at = self.dirs.get(cid)
        if at is None:
            return None
        assert self._spill is not None
        block = os.pread(self._spill.fileno(), at[1], at[0])
        if len(block) != at[1]:
            raise ContentError(f"{self.spill_path}: short read of a directory block")
        return block

    def write(self, items: Iterable[tuple[str, str | None]]) -> BundleInfo:
        self._spill = open(self.spill_path, "w+b")
        try:
            root = self._pass1(items)
            self._spill.flush()
            with CarWriter(self.out_path, [root]) as out:
                self._walk(out, root, "", False)
            return BundleInfo(root, out.size, self.files or {})
        finally:
            self._spill.close()
            try:
                os.unlink(self.spill_path)
            except FileNotFoundError:
                pass

    def _pass1(self, items: Iterable[tuple[str, str | None]]) -> CID:
        tree = StreamingTree(self._emit_dir, self.prof)
        for rel, want in items:  # the paths are checked by tree.add
            path = os.path.join(self.base, rel)
            dag, _ = _hash_for_car(path, self.prof)
            if want is not None and str(dag.root) != want:
                raise FileChangedError(path, "content differs from the CID recorded when hashed")
            if dag.blocks:
                self.multi.add(dag.root)
                for block in dag.blocks.values():
                    self.multi.update(link.cid for link in decode_node(block).links)
            elif self.bloom.add(dag.root.digest):
                self.maybe_repeated.add(dag.root)
            if self.files is not None:
                self.files[rel] = dag.root
            try:
                tree.add(rel, dag.root, dag.dag_size)
            except ValueError as exc:
                raise ContentError(f"{self.out_path}: {exc}") from None
        if not tree.files:
            raise ContentError(f"{self.out_path}: a bundle needs at least one file")
        try:
            return tree.finish()[0]
        except ValueError as exc:
            raise ContentError(f"{self.out_path}: {exc}") from None

    def _walk(self, out: CarWriter, cid: CID, path: str, in_shard: bool) -> None:
        block = self._read_dir(cid)
        if block is None:
            self._write_file(out, cid, path)
            return
        if not out.add(cid, block):
            return
        node = decode_node(block)
        shard = decode_data(node.data or b"").type == HAMT_SHARD
        for link in node.links:
            name = link.name or ""
            if shard:
                if len(name) == 2:  # a sub-shard: the same directory
                    self._walk(out, link.cid, path, True)
                    continue
                name = name[2:]
            self._walk(out, link.cid, f"{path}/{name}" if path else name, False)

    def _write_file(self, out: CarWriter, cid: CID, rel: str) -> None:
        if cid in out.seen:
            return
        path = os.path.join(self.base, rel)
        if cid in self.multi:
            st = stat_key(os.stat(path))
            dag = hash_file(path, self.prof, keep_blocks=True)
            if dag.root != cid:
                raise FileChangedError(path, "file changed between hashing and writing the CAR")
            _write_file_blocks(out, path, dag, st)
            return
        cs = self.prof.chunk_size
        with open_regular(path) as f:
            before = stat_key(os.fstat(f.fileno()))
            data = f.read(cs + 1)
            if stat_key(os.fstat(f.fileno())) != before or len(data) > cs:
                raise FileChangedError(path, "file changed while the CAR was being written")
        got, _ = make_leaf(self.prof, data)
        if got != cid:
            raise FileChangedError(path, "file changed between hashing and writing the CAR")
        block = data if self.prof.raw_leaves else leaf_block(data)
        if cid in self.maybe_repeated:
            out.add(cid, block)
        else:
            out.add(cid, block, remember=False)  # pass 1 saw this CID once: it cannot come again
