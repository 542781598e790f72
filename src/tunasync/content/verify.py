"""Verify a DFS-ordered CAR stream while it arrives, and the walk a trustless gateway sends (spec §6.3).

    v = DfsVerifier(root, byte_range=(first, last))      # inclusive, like entity-bytes and HTTP Range
    for data in response: for offset, chunk in v.feed(data): ...   # only verified bytes come out
    v.finish()                                           # raises if anything is missing

    dfs_blocks(get_block, root, byte_range)              # what a gateway must send for dag-scope=entity

Memory is flat: a stack of expected CIDs (O(depth × width)) and at most one partial section.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from ..errors import CarError, VerifyError
from .carread import MAX_BLOCK, check_block, parse_header
from .cid import CID, DAG_PB, IDENTITY, RAW, SHA2_256
from .dagpb import DagPbError, PBNode, decode_node
from .unixfs import FILE, HAMT_SHARD, UnixFSData, UnixFSError, decode_data
from .unixfs import RAW as UNIXFS_RAW


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
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0], for error messages
        self._header = False
        # (cid, file offset, expected file bytes or None for the root)
        self._stack: list[tuple[CID, int, int | None]] = [(self.root, 0, None)]
        self._cache: dict[CID, bytes] = {}
        self._cache_left = cache_bytes
        self._seen: set[bytes] = set()

    # -- stream parsing -------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Consume more CAR bytes; return the file bytes (offset, data) verified so far."""
        out: list[tuple[int, bytes]] = []
        buf = self._buf
        buf += data
        pos = 0
        n_buf = len(buf)
        while True:
            self._replay(out)
            got = _peek_varint(buf, pos, n_buf)
            if got is None:
                break
            n, body = got
            if not self._header:
                if n == 0 or n > 1 << 20:
                    raise CarError(f"header length {n} out of range", self._offset + pos)
                if n_buf - body < n:
                    break
                header = parse_header(bytes(buf[body : body + n]))
                if header.get("version") != 1:
                    raise CarError(f"unsupported CAR version {header.get('version')!r}", self._offset)
                self._header = True
                pos = body + n
                continue
            if n == 0 or n > MAX_BLOCK + 256:
                raise CarError(f"section length {n} out of range", self._offset + pos)
            if n_buf - body < n:
                break
            with memoryview(buf) as mv:  # one copy; the view is released before `del buf[...]`
                section = bytes(mv[body : body + n])
            at = self._offset + pos
            pos = body + n
            self._section(section, at, out)
        del buf[:pos]  # bytearray deletes from the front in O(1)
        self._offset += pos
        return out

    def feed_block(self, cid: CID, block: bytes) -> list[tuple[int, bytes]]:
        """Consume one block already split out of its CAR (a block store, an index): same checks."""
        if self._buf:
            raise CarError("feed_block() mixed with a partial CAR stream", self._offset)
        self._header = True
        out: list[tuple[int, bytes]] = []
        self._replay(out)
        self._block(cid, memoryview(block), None, out)
        self._replay(out)
        return out

    def finish(self) -> None:
        """End of stream: raise CarError/VerifyError unless the whole file (or range) was verified."""
        if self._buf:
            raise CarError(f"truncated CAR: {len(self._buf)} bytes of an incomplete section at the end", self._offset)
        if not self._header:
            raise CarError("empty response: no CAR header", 0)
        if self._stack:
            cid = self._stack[-1][0]
            raise VerifyError(self.root, f"incomplete CAR: {len(self._stack)} block(s) missing, next {cid}")
        want = self.hi - self.lo
        if self.emitted != want:
            raise VerifyError(self.root, f"incomplete CAR: {self.emitted} of {want} bytes verified")

    # -- the walk -------------------------------------------------------------------------------
    def _section(self, section: bytes, at: int, out: list[tuple[int, bytes]]) -> None:
        try:
            cid, end = CID.from_bytes(section)
        except ValueError as exc:
            raise CarError(f"bad CID in section: {exc}", at) from None
        self._block(cid, memoryview(section)[end:], at, out)

    def _block(self, cid: CID, block: memoryview, at: int | None, out: list[tuple[int, bytes]]) -> None:
        where = f" (section at byte {at})" if at is not None else ""
        stack = self._stack
        if not stack:
            raise VerifyError(self.root, f"unexpected extra block {cid} after the file was complete")
        exp = stack[-1]
        if not same_block(exp[0], cid):
            raise VerifyError(exp[0], f"expected this block next, got {cid}{where}")
        stack.pop()
        if cid.mh_code == SHA2_256 and cid.codec in (RAW, DAG_PB) and len(cid.digest) == 32:
            if len(block) > MAX_BLOCK:
                raise CarError(f"block {cid} is {len(block)} bytes, over the 2 MiB limit", at)
            if hashlib.sha256(block).digest() != cid.digest:
                raise VerifyError(cid, f"block bytes do not match the CID{where}")
        else:
            check_block(cid, block, at)
        self.blocks += 1
        self._process(exp, block, out)

    def _process(self, exp: tuple[CID, int, int | None], block: memoryview | bytes,
                 out: list[tuple[int, bytes]]) -> None:
        cid, offset, nbytes = exp
        is_root = nbytes is None
        if not self.dups:
            self._remember(cid, block)
        if cid.codec == RAW:
            if is_root:
                self._set_size(len(block))
            elif len(block) != nbytes:
                raise VerifyError(cid, f"leaf has {len(block)} bytes, its parent says {nbytes}")
            self._emit(offset, block, out)
            return
        if cid.codec != DAG_PB:
            raise VerifyError(cid, f"codec 0x{cid.codec:x} is not part of a UnixFS file")
        node, data = _file_node(cid, bytes(block))
        inline = data.data or b""
        filesize = len(inline) + sum(data.blocksizes)
        if is_root:
            self._set_size(filesize)
        elif filesize != nbytes:
            raise VerifyError(cid, f"node holds {filesize} file bytes, its parent says {nbytes}")
        children = file_children(cid, node, data, offset, self.lo, self.hi, self.byte_range is None)
        if inline:
            self._emit(offset, memoryview(inline), out)
        self._stack.extend(reversed(children))
        self._replay(out)

    def _replay(self, out: list[tuple[int, bytes]]) -> None:
        """Blocks on top of the stack that will not be sent: identity CIDs, and seen ones with dups=n."""
        stack = self._stack
        while stack:
            cid, offset, nbytes = stack[-1]
            if cid.mh_code == IDENTITY:
                stack.pop()
                check_block(cid, cid.digest)
                self._process((cid, offset, nbytes), cid.digest, out)
            elif not self.dups and cid.digest in self._seen:
                block = self._cache.get(cid.to_v1()) if cid.version == 0 else self._cache.get(cid)
                if block is None:
                    raise VerifyError(cid, "repeated block not resent (dups=n) and no longer cached")
                stack.pop()
                self._process((cid, offset, nbytes), block, out)
            else:
                return

    def _remember(self, cid: CID, block: memoryview | bytes) -> None:
        self._seen.add(cid.digest)
        if len(block) <= self._cache_left:
            self._cache[cid.to_v1()] = bytes(block)
            self._cache_left -= len(block)

    def _set_size(self, size: int) -> None:
        self.size = size
        self.lo, self.hi = resolve_range(self.byte_range, size)

    def _emit(self, offset: int, data: memoryview | bytes, out: list[tuple[int, bytes]]) -> None:
        a = max(offset, self.lo)
        b = min(offset + len(data), self.hi)
        if b > a:
            out.append((a, bytes(data[a - offset : b - offset])))
            self.emitted += b - a


def _peek_varint(buf: bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """(value, position after it), or None when the buffer ends inside the varint."""
    result = shift = 0
    start = pos
    while pos < end:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if b == 0 and pos - start > 1:
                raise CarError("varint is not minimally encoded", start)
            return result, pos
        shift += 7
        if pos - start >= 9:
            raise CarError("varint too long", start)
    return None


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
