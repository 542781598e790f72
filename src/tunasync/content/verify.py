"""Verify a DFS-ordered CAR stream while it arrives, and the walk a trustless gateway sends (docs/filecoin.md §6.3).

    v = DfsVerifier(root, byte_range=(first, last))      # inclusive, like entity-bytes and HTTP Range
    for data in response: for offset, chunk in v.feed(data): ...   # only verified bytes come out
    v.finish()                                           # raises if anything is missing

    v.push(data, out, defer=True)    # the same walk, no copies: Releases whose big raw leaves are still
    first_bad(out)                   # to be hashed (on any thread, in order) before their bytes go out

    dfs_blocks(get_block, root, byte_range)              # what a gateway must send for dag-scope=entity

Memory is flat: a stack of expected CIDs (O(depth × width)), at most one partial section, and what the
caller holds of the Releases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..errors import BadBlock, CarError, TruncatedCar, VerifyError
from .carread import MAX_BLOCK, MAX_HEADER, Sections, check_block, parse_header
from .cid import CID, DAG_PB, IDENTITY, RAW, SHA2_256
from .dagpb import DagPbError, PBNode, decode_node
from .unixfs import FILE, HAMT_SHARD, UnixFSData, UnixFSError, decode_data
from .unixfs import RAW as UNIXFS_RAW

# Smaller leaves are hashed during push() even when deferring: a thread hop costs more than they do.
DEFER_MIN = 16 << 10


@dataclass(slots=True)
class Release:
    """File bytes `parts` from file offset `offset`. With `block` set they are not verified yet: they
    may go out only after `block` hashed to `cid` and every earlier Release went out (`first_bad`)."""

    offset: int
    parts: list[memoryview]
    cid: CID | None = None
    block: list[memoryview] | None = None


def first_bad(releases: Sequence[Release]) -> int | None:
    """Index of the first Release whose block does not hash to its CID, None when all do.

    hashlib releases the GIL for each part over 2 KiB, so threads can check consecutive batches at once.
    """
    for i, r in enumerate(releases):
        if r.block is not None:
            assert r.cid is not None
            if _sha256(r.block) != r.cid.digest:
                return i
    return None


def _sha256(parts: list[memoryview]) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def joined(parts: list[memoryview]) -> bytes:
    """One bytes object for the parts (no copy when that is one whole chunk already)."""
    if len(parts) == 1:
        whole = parts[0].obj
        if type(whole) is bytes and len(whole) == len(parts[0]):
            return whole
    return b"".join(parts)


def resolve_range(byte_range: tuple[int, int | None] | None, size: int) -> tuple[int, int]:
    """Inclusive (first, last) -> half-open [lo, hi) clipped to the file; negative first = from the end."""
    if byte_range is None:
        return 0, size
    first, last = byte_range
    if first < 0:
        first = max(0, size + first)
    hi = size if last is None else min(last + 1, size)
    lo = min(first, size)
    return lo, max(lo, hi)


def same_block(a: CID, b: CID) -> bool:
    """Equal up to the CID version (kubo links are v0, a gateway may send v1)."""
    return a.digest == b.digest and a.mh_code == b.mh_code and a.codec == b.codec


def _file_node(cid: CID, block: bytes) -> tuple[PBNode, UnixFSData]:
    try:
        node = decode_node(block)
        data = decode_data(node.data or b"")
    except (DagPbError, UnixFSError) as exc:
        raise VerifyError(cid, f"not a UnixFS node: {exc}") from None
    return node, data


def file_children(cid: CID, node: PBNode, data: UnixFSData, offset: int,
                  lo: int, hi: int, whole: bool) -> list[tuple[CID, int, int]]:
    """Children (cid, file offset, bytes) of a file node that overlap [lo, hi) (all when `whole`)."""
    if data.type not in (FILE, UNIXFS_RAW):
        raise VerifyError(cid, f"UnixFS node of type {data.type} where a file node was expected")
    if len(node.links) != len(data.blocksizes):
        raise VerifyError(cid, f"{len(node.links)} links but {len(data.blocksizes)} blocksizes")
    inline = len(data.data or b"")
    if data.filesize is not None and data.filesize != inline + sum(data.blocksizes):
        raise VerifyError(cid, f"filesize {data.filesize} != inline data + blocksizes")
    out = []
    pos = offset + inline
    for link, size in zip(node.links, data.blocksizes, strict=True):
        if whole or (pos < hi and pos + size > lo):
            out.append((link.cid, pos, size))
        pos += size
    return out


class DfsVerifier:
    """Push parser for a `dag-scope=entity`, `order=dfs` CAR of one UnixFS file.

    `dups=True` (gateway `dups=y`): every block arrives each time the walk meets it. `dups=False`: a
    repeated block is not sent again; blocks are then cached (bounded by `cache_bytes`) to replay them.
    """

    def __init__(self, root: CID, byte_range: tuple[int, int | None] | None = None, dups: bool = True,
                 cache_bytes: int = 64 << 20):
        self.root = CID.decode(root)
        self.byte_range = byte_range
        self.dups = dups
        self.size: int | None = None  # file size, known once the root block is verified
        self.lo, self.hi = 0, 0
        self.emitted = 0
        self.blocks = 0
        self._sections = Sections()
        self._header = False
        # (cid, file offset, expected file bytes or None for the root)
        self._stack: list[tuple[CID, int, int | None]] = [(self.root, 0, None)]
        self._cache: dict[CID, bytes] = {}
        self._cache_left = cache_bytes
        self._seen: set[bytes] = set()

    # -- stream parsing -------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Consume more CAR bytes; return the file bytes (offset, data) verified so far."""
        out: list[Release] = []
        self.push(data if type(data) is bytes else bytes(data), out)
        return [(r.offset, joined(r.parts)) for r in out if r.parts]

    def push(self, data: bytes, out: list[Release], defer: bool = False) -> None:
        """Consume more CAR bytes (kept, not copied: never change them), appending to `out` what they
        release; on an error, `out` holds what came before it.

        `defer`: raw sha2-256 leaves of DEFER_MIN bytes or more are not hashed here; their Releases carry
        the block, and `first_bad` must clear them, in order, before any later byte goes out. Everything
        else (CIDs, lengths, the walk, dag-pb nodes) is checked here either way.
        """
        sections = self._sections
        sections.push(data)
        while True:
            self._replay(out)
            if not self._header:
                if not self._read_header():
                    return
                continue
            got = sections.section()
            if got is None:
                return
            cid, block, at = got
            self._block(cid, block, at, out, defer)

    def _read_header(self) -> bool:
        self._header = take_car_header(self._sections)
        return self._header

    def feed_block(self, cid: CID, block: bytes) -> list[tuple[int, bytes]]:
        """Consume one block already split out of its CAR (a block store, an index): same checks."""
        if self._sections.buffered:
            raise CarError("feed_block() mixed with a partial CAR stream", self._sections.offset)
        self._header = True
        out: list[Release] = []
        self._replay(out)
        self._block(cid, [memoryview(block)], None, out, False)
        self._replay(out)
        return [(r.offset, joined(r.parts)) for r in out if r.parts]

    def finish(self) -> None:
        """End of stream: raise TruncatedCar (or CarError) unless the whole file (or range) was verified."""
        check_car_end(self._sections, self._header)
        if self._stack:
            cid = self._stack[-1][0]
            raise TruncatedCar(f"incomplete CAR: {len(self._stack)} block(s) missing, next {cid}", root=self.root)
        want = self.hi - self.lo
        if self.emitted != want:
            raise TruncatedCar(f"incomplete CAR: {self.emitted} of {want} bytes verified", root=self.root)

    # -- the walk -------------------------------------------------------------------------------
    def _block(self, cid: CID, block: list[memoryview], at: int | None, out: list[Release], defer: bool) -> None:
        where = f" (section at byte {at})" if at is not None else ""
        stack = self._stack
        if not stack:
            raise VerifyError(self.root, f"unexpected extra block {cid} after the file was complete")
        exp = stack[-1]
        if not same_block(exp[0], cid):
            raise VerifyError(exp[0], f"expected this block next, got {cid}{where}")
        stack.pop()
        size = sum(len(p) for p in block)
        later = False
        if cid.mh_code == SHA2_256 and cid.codec in (RAW, DAG_PB) and len(cid.digest) == 32:
            if size > MAX_BLOCK:
                raise CarError(f"block {cid} is {size} bytes, over the 2 MiB limit", at)
            later = defer and cid.codec == RAW and size >= DEFER_MIN
            if not later and _sha256(block) != cid.digest:
                raise BadBlock(cid, f"block bytes do not match the CID{where}")
        else:
            check_block(cid, joined(block), at)
        self.blocks += 1
        self._process(exp, block, size, out, later)

    def _process(self, exp: tuple[CID, int, int | None], block: list[memoryview], size: int,
                 out: list[Release], unverified: bool = False) -> None:
        cid, offset, nbytes = exp
        is_root = nbytes is None
        if not self.dups:
            self._remember(cid, block, size)
        if cid.codec == RAW:
            if is_root:
                self._set_size(size)
            elif size != nbytes:
                raise VerifyError(cid, f"leaf has {size} bytes, its parent says {nbytes}")
            self._emit(offset, block, size, out, cid if unverified else None)
            return
        if cid.codec != DAG_PB:
            raise VerifyError(cid, f"codec 0x{cid.codec:x} is not part of a UnixFS file")
        node, data = _file_node(cid, joined(block))
        inline = data.data or b""
        filesize = len(inline) + sum(data.blocksizes)
        if is_root:
            self._set_size(filesize)
        elif filesize != nbytes:
            raise VerifyError(cid, f"node holds {filesize} file bytes, its parent says {nbytes}")
        children = file_children(cid, node, data, offset, self.lo, self.hi, self.byte_range is None)
        if inline:
            self._emit(offset, [memoryview(inline)], len(inline), out)
        self._stack.extend(reversed(children))
        self._replay(out)

    def _replay(self, out: list[Release]) -> None:
        """Blocks on top of the stack that will not be sent: identity CIDs, and seen ones with dups=n."""
        stack = self._stack
        while stack:
            cid, offset, nbytes = stack[-1]
            if cid.mh_code == IDENTITY:
                stack.pop()
                check_block(cid, cid.digest)
                self._process((cid, offset, nbytes), [memoryview(cid.digest)], len(cid.digest), out)
            elif not self.dups and cid.digest in self._seen:
                block = self._cache.get(cid.to_v1()) if cid.version == 0 else self._cache.get(cid)
                if block is None:
                    raise VerifyError(cid, "repeated block not resent (dups=n) and no longer cached")
                stack.pop()
                # Possibly cached before its hash was checked: its first Release, earlier in `out`,
                # still has to pass before this one may go out.
                self._process((cid, offset, nbytes), [memoryview(block)], len(block), out)
            else:
                return

    def _remember(self, cid: CID, block: list[memoryview], size: int) -> None:
        self._seen.add(cid.digest)
        if size <= self._cache_left:
            self._cache[cid.to_v1()] = joined(block)
            self._cache_left -= size

    def _set_size(self, size: int) -> None:
        self.size = size
        self.lo, self.hi = resolve_range(self.byte_range, size)

    def _emit(self, offset: int, block: list[memoryview], size: int, out: list[Release],
              unverified: CID | None = None) -> None:
        a = max(offset, self.lo)
        b = min(offset + size, self.hi)
        parts = _slice(block, a - offset, b - offset) if b > a else []
        if parts or unverified is not None:  # an unverified block is checked even when it adds no bytes
            out.append(Release(a, parts, unverified, block if unverified is not None else None))
            self.emitted += max(0, b - a)


def _slice(parts: list[memoryview], start: int, stop: int) -> list[memoryview]:
    """Views of bytes [start, stop) of the parts laid end to end."""
    if start == 0 and stop == sum(len(p) for p in parts):
        return parts
    out = []
    pos = 0
    for p in parts:
        end = pos + len(p)
        if end > start and pos < stop:
            out.append(p[max(0, start - pos) : min(len(p), stop - pos)])
        pos = end
        if pos >= stop:
            break
    return out


def dfs_blocks(get_block: Callable[[CID], bytes], root: CID | str,
               byte_range: tuple[int, int | None] | None = None) -> Iterator[tuple[CID, bytes]]:
    """The blocks a trustless gateway sends for `dag-scope=entity&car-order=dfs&car-dups=y`.

    A file: its root and every block under it (or only those a byte range needs, with the path to
    them). A directory: the node itself (and the inner shards of a HAMT). Identity CIDs are skipped.
    Raw leaves are yielded as `get_block` returned them and never looked into, so a caller may return
    a placeholder for them (the devnet's CAR planner does). Blocks are not re-verified here.
    """
    root = CID.decode(root)
    first = True
    lo = hi = 0
    stack: list[tuple[CID, int, bool]] = [(root, 0, True)]  # (cid, file offset, part of a HAMT walk)
    while stack:
        cid, offset, in_hamt = stack.pop()
        if cid.mh_code == IDENTITY:
            block = cid.digest
        else:
            block = get_block(cid)
            yield cid, block
        if cid.codec != DAG_PB:
            if first:
                first = False
            continue
        node, data = _file_node(cid, block)
        if data.type == HAMT_SHARD:
            if first or in_hamt:  # the entity of a sharded directory is its shard structure
                subs = [(link.cid, 0, True) for link in node.links if link.name is not None and len(link.name) == 2]
                stack.extend(reversed(subs))
            first = False
            continue
        if data.type not in (FILE, UNIXFS_RAW):
            first = False
            continue
        if first:
            size = len(data.data or b"") + sum(data.blocksizes)
            lo, hi = resolve_range(byte_range, size)
            first = False
        children = file_children(cid, node, data, offset, lo, hi, byte_range is None)
        stack.extend((c, o, False) for c, o, _ in reversed(children))


def take_car_header(sections: Sections) -> bool:
    """Consume a CARv1 header once it is wholly buffered; False while more bytes are needed."""
    got = sections.varint()
    if got is None:
        return False
    n, size = got
    if n == 0 or n > MAX_HEADER:
        raise CarError(f"header length {n} out of range", sections.offset)
    if sections.buffered < size + n:
        return False
    header = parse_header(sections.peek(size + n)[size:])
    if header.get("version") != 1:
        raise CarError(f"unsupported CAR version {header.get('version')!r}", sections.offset)
    sections.take(size + n)
    return True


def check_car_end(sections: Sections, header_read: bool) -> None:
    """At the end of a stream: TruncatedCar for a section cut short, CarError for a response without a
    CAR header."""
    if sections.buffered:
        raise TruncatedCar(f"truncated CAR: {sections.buffered} bytes of an incomplete section at the end",
                           sections.offset)
    if not header_read:
        raise CarError("empty response: no CAR header", 0)
