"""Verify a CAR of one UnixFS file whose block order is not known (trustless-gateway.md: a response
whose Content-Type has no `order`, or `order=unk`, may send blocks in any order; without `dups` it may
leave repeated blocks out, or send them, or send blocks nobody asked for: those are ignored).

    v = ReorderVerifier(root, byte_range, limit=256 << 20)
    v.push(data, out)    # Releases of verified file bytes, in file order, as soon as the walk reaches them
    v.finish()           # raises unless the whole file (or range) was verified

Every block is hashed when it arrives; the DFS walk of the file (the same one `DfsVerifier` checks a
DFS stream against) takes blocks from a buffer as it reaches them, so bytes still leave in file order
and only after their block verified. Blocks that arrived before the walk needs them wait in the
buffer; past `limit` bytes of them, the stream is refused (`ReorderLimitError`): a gateway that sends
the root last makes us hold the whole file otherwise. Consumed blocks the walk has seen linked more
than once are kept (within the same limit, dropped first) in case they are not sent again.
"""

from __future__ import annotations

from collections import OrderedDict

from ..errors import CarError, ReorderLimitError, TruncatedCar, VerifyError
from .carread import KNOWN_CODECS, MAX_BLOCK, Sections, check_block
from .cid import CID, DAG_PB, IDENTITY, RAW, SHA2_256
from .verify import Release, _file_node, _slice, check_car_end, file_children, resolve_range, take_car_header

DEFAULT_LIMIT = 256 << 20


class ReorderVerifier:
    def __init__(self, root: CID, byte_range: tuple[int, int | None] | None = None, limit: int = DEFAULT_LIMIT):
        self.root = CID.decode(root)
        self.byte_range = byte_range
        self.limit = limit
        self.size: int | None = None
        self.lo = self.hi = 0
        self.emitted = 0
        self.blocks = 0  # blocks used by the walk
        self.ignored = 0  # duplicates and blocks the file does not need
        self._sections = Sections()
        self._header = False
        self._stack: list[tuple[CID, int, int | None]] = [(self.root, 0, None)]
        self._buf: dict[bytes, bytes] = {}  # multihash -> verified block, not used yet
        self._held = 0
        self._keep: OrderedDict[bytes, bytes] = OrderedDict()  # used, linked more than once
        self._kept = 0
        self._links: dict[bytes, int] = {}  # multihash -> links to it the walk has seen
        self._used: set[bytes] = set()

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        out: list[Release] = []
        self.push(bytes(data), out)
        return [(r.offset, b"".join(r.parts)) for r in out if r.parts]

    def push(self, data: bytes, out: list[Release], defer: bool = False) -> None:
        """Consume CAR bytes; append Releases (already verified: `defer` changes nothing here)."""
        sections = self._sections
        sections.push(data)
        while True:
            if not self._header:
                if not self._read_header():
                    return
                self._advance(out)
                continue
            got = sections.section()
            if got is None:
                return
            cid, parts, at = got
            self._arrive(cid, b"".join(parts), at)
            self._advance(out)

    def _read_header(self) -> bool:
        self._header = take_car_header(self._sections)
        return self._header

    def _arrive(self, cid: CID, block: bytes, at: int) -> None:
        key = cid.multihash
        if key in self._buf or key in self._keep or cid.codec not in KNOWN_CODECS or cid.mh_code != SHA2_256:
            self.ignored += 1  # a duplicate, or a block no UnixFS file of ours can need: ignored
            return
        if len(block) > MAX_BLOCK:
            raise CarError(f"block {cid} is {len(block)} bytes, over the 2 MiB limit", at)
        check_block(cid, block, at)
        while self._held + self._kept + len(block) > self.limit and self._keep:
            _, old = self._keep.popitem(last=False)
            self._kept -= len(old)
        if self._held + len(block) > self.limit:
            raise ReorderLimitError(
                f"blocks came out of order: {self._held + len(block)} bytes would wait for earlier ones, over "
                f"the reorder buffer of {self.limit} bytes (next needed: {self._next()})", at)
        self._buf[key] = block
        self._held += len(block)

    def _next(self) -> str:
        return str(self._stack[-1][0]) if self._stack else "nothing"

    def _take(self, cid: CID) -> bytes | None:
        key = cid.multihash
        if cid.mh_code == IDENTITY:
            check_block(cid, cid.digest)
            return cid.digest
        block = self._buf.pop(key, None)
        if block is not None:
            self._held -= len(block)
            if self._links.get(key, 0) > 1:
                self._keep[key] = block
                self._kept += len(block)
            self._used.add(key)
            return block
        block = self._keep.get(key)
        if block is not None:
            self._keep.move_to_end(key)
        return block

    def _advance(self, out: list[Release]) -> None:
        """Walk on while the block on top of the stack is at hand (iterative: long runs of buffered
        blocks must not recurse)."""
        stack = self._stack
        while stack:
            exp = stack[-1]
            block = self._take(exp[0])
            if block is None:
                return
            stack.pop()
            self.blocks += 1
            self._process(exp, block, out)

    def _process(self, exp: tuple[CID, int, int | None], block: bytes, out: list[Release]) -> None:
        cid, offset, nbytes = exp
        is_root = nbytes is None
        if cid.codec == RAW:
            if is_root:
                self._set_size(len(block))
            elif len(block) != nbytes:
                raise VerifyError(cid, f"leaf has {len(block)} bytes, its parent says {nbytes}")
            self._emit(offset, block, out)
            return
        if cid.codec != DAG_PB:
            raise VerifyError(cid, f"codec 0x{cid.codec:x} is not part of a UnixFS file")
        node, data = _file_node(cid, block)
        inline = data.data or b""
        filesize = len(inline) + sum(data.blocksizes)
        if is_root:
            self._set_size(filesize)
        elif filesize != nbytes:
            raise VerifyError(cid, f"node holds {filesize} file bytes, its parent says {nbytes}")
        children = file_children(cid, node, data, offset, self.lo, self.hi, self.byte_range is None)
        if inline:
            self._emit(offset, inline, out)
        for child, _, _ in children:
            self._links[child.multihash] = self._links.get(child.multihash, 0) + 1
        self._stack.extend(reversed(children))

    def _set_size(self, size: int) -> None:
        self.size = size
        self.lo, self.hi = resolve_range(self.byte_range, size)

    def _emit(self, offset: int, block: bytes, out: list[Release]) -> None:
        a, b = max(offset, self.lo), min(offset + len(block), self.hi)
        if b > a:
            out.append(Release(a, _slice([memoryview(block)], a - offset, b - offset)))
            self.emitted += b - a

    def finish(self) -> None:
        """End of stream: raise unless every block of the file (or range) arrived and verified."""
        check_car_end(self._sections, self._header)
        if self._stack:
            cid = self._stack[-1][0]
            again = " (used earlier and not sent again)" if cid.multihash in self._used else ""
            raise TruncatedCar(f"incomplete CAR: {len(self._stack)} block(s) missing, next {cid}{again}",
                               root=self.root)
        if self.emitted != self.hi - self.lo:
            raise TruncatedCar(f"incomplete CAR: {self.emitted} of {self.hi - self.lo} bytes verified",
                               root=self.root)

    @property
    def held(self) -> int:
        """Bytes of blocks waiting in the buffer or kept for reuse."""
        return self._held + self._kept

