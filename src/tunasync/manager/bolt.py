"""A small read-only reader for bbolt files (Go tunasync's default database), for migration only.

The on-disk format (etcd-io/bbolt, file format version 2), little-endian throughout:
- Every page starts with a 16-byte header: id u64, flags u16, count u16, overflow u32. A page with
  `overflow = k` spans k+1 consecutive pages of `page_size` bytes.
- Pages 0 and 1 are meta pages (flag 0x04). After the header: magic u32 (0xED0CDAED), version u32,
  page_size u32, flags u32, root bucket (root pgid u64, sequence u64), freelist pgid u64, high-water
  pgid u64, txid u64, checksum u64 = FNV-1a 64 of the 56 bytes before it. The valid meta with the
  higher txid is the current one (a torn write of the newer meta falls back to the older).
- Branch pages (0x01) hold `count` elements of (pos u32, ksize u32, pgid u64); leaf pages (0x02)
  hold (flags u32, pos u32, ksize u32, vsize u32). `pos` is relative to the element's own offset.
- A leaf element with flag 0x01 is a nested bucket: its value is (root pgid u64, sequence u64); when
  root is 0 the bucket is inline and its single leaf page follows inside the value.

The reader takes the whole file into memory (tunasync databases are small), checks every page it
visits (bounds, type, id, no cycles, keys ascending) and raises BoltError naming the file and page.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TunasyncError

MAGIC = 0xED0CDAED
VERSION = 2
PAGE_HEADER = 16
ELEMENT_SIZE = 16  # both branch and leaf elements are 16 bytes
BUCKET_HEADER = 16
BRANCH, LEAF, META, FREELIST = 0x01, 0x02, 0x04, 0x10
BUCKET_LEAF_FLAG = 0x01
_META = struct.Struct("<IIII QQ QQQ Q")
_CHECKSUMMED = 56


class BoltError(TunasyncError):
    """A bbolt file cannot be read: names the file and, when known, the page."""

    def __init__(self, path: str, reason: str, page: int | None = None):
        self.path = path
        self.reason = reason
        self.page = page
        where = f"{path}: page {page}" if page is not None else path
        super().__init__(f"{where}: {reason}")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@dataclass(frozen=True)
class Meta:
    page_size: int
    flags: int
    root: int
    freelist: int
    pgid: int  # high-water mark: every page id in use is below it
    txid: int


def parse_meta(buf: bytes) -> Meta:
    """Decode and check the meta struct at the start of `buf`; ValueError says what is wrong."""
    if len(buf) < _META.size:
        raise ValueError("meta page is truncated")
    magic, version, page_size, flags, root, _seq, freelist, pgid, txid, checksum = _META.unpack_from(buf)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic:#010x} (not a bolt file)")
    if version != VERSION:
        raise ValueError(f"unsupported bolt format version {version}")
    if checksum != fnv1a64(buf[:_CHECKSUMMED]):
        raise ValueError("meta checksum mismatch")
    if page_size < 512 or page_size & (page_size - 1):
        raise ValueError(f"implausible page size {page_size}")
    return Meta(page_size, flags, root, freelist, pgid, txid)


class BoltFile:
    """An opened bbolt file: read buckets and values; nothing is ever written."""

    def __init__(self, data: bytes, path: str = "<memory>"):
        self.data = data
        self.path = path
        self.meta = self._choose_meta()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> BoltFile:
        """Read the file under a shared lock; a Go manager still holding it gives a clear error."""
        p = str(path)
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError as exc:
            raise BoltError(p, f"cannot open: {exc.strerror}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BoltError(p, "the database is locked by another process; stop the Go manager first") from None
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
        finally:
            os.close(fd)
        return cls(data, p)

    # --- meta -------------------------------------------------------------------------------------

    def _choose_meta(self) -> Meta:
        errors = []
        metas = []
        try:
            m0 = parse_meta(self.data[PAGE_HEADER:PAGE_HEADER + _META.size])
            metas.append(m0)
            sizes = [m0.page_size]
        except ValueError as exc:
            errors.append(f"meta page 0: {exc}")
            sizes = [1 << n for n in range(9, 17)]  # page size unknown: try every plausible one
        for size in sizes:
            try:
                m1 = parse_meta(self.data[size + PAGE_HEADER:size + PAGE_HEADER + _META.size])
            except ValueError as exc:
                if len(sizes) == 1:
                    errors.append(f"meta page 1: {exc}")
                continue
            if m1.page_size == size:
                metas.append(m1)
                break
        if not metas:
            if len(self.data) < 2 * 512:
                raise BoltError(self.path, f"file is too short for a bolt database ({len(self.data)} bytes)")
            raise BoltError(self.path, "no valid meta page (" + "; ".join(errors or ["meta page 1: not found"]) + ")")
        meta = max(metas, key=lambda m: m.txid)
        if meta.pgid * meta.page_size > len(self.data):
            raise BoltError(self.path, f"file is truncated: {len(self.data)} bytes, meta says "
                            f"{meta.pgid} pages of {meta.page_size}")
        return meta

    # --- pages --------------------------------------------------------------------------------------

    def _page(self, pgid: int) -> tuple[int, int, bytes]:
        """(flags, count, page bytes including overflow) of page `pgid`, checked."""
        ps = self.meta.page_size
        if pgid < 2 or pgid >= self.meta.pgid:
            raise BoltError(self.path, f"page id out of range (high-water mark {self.meta.pgid})", pgid)
        off = pgid * ps
        pid, flags, count, overflow = struct.unpack_from("<QHHI", self.data, off)
        if pid != pgid:
            raise BoltError(self.path, f"page header says it is page {pid}", pgid)
        if pgid + overflow >= self.meta.pgid:
            raise BoltError(self.path, f"overflow of {overflow} pages runs past the high-water mark", pgid)
        return flags, count, self.data[off:off + (overflow + 1) * ps]

    def _elements(self, page: bytes, count: int, pgid: int | None) -> list[tuple[int, bytes, bytes]]:
        """Leaf elements as (flags, key, value), bounds-checked against the page."""
        out = []
        if PAGE_HEADER + count * ELEMENT_SIZE > len(page):
            raise BoltError(self.path, f"{count} elements do not fit in the page", pgid)
        for i in range(count):
            eoff = PAGE_HEADER + i * ELEMENT_SIZE
            flags, pos, ksize, vsize = struct.unpack_from("<IIII", page, eoff)
            start = eoff + pos
            if start + ksize + vsize > len(page):
                raise BoltError(self.path, f"element {i} runs past the end of the page", pgid)
            out.append((flags, page[start:start + ksize], page[start + ksize:start + ksize + vsize]))
        return out

    def _branches(self, page: bytes, count: int, pgid: int) -> list[tuple[bytes, int]]:
        out = []
        if PAGE_HEADER + count * ELEMENT_SIZE > len(page):
            raise BoltError(self.path, f"{count} elements do not fit in the page", pgid)
        for i in range(count):
            eoff = PAGE_HEADER + i * ELEMENT_SIZE
            pos, ksize, child = struct.unpack_from("<IIQ", page, eoff)
            if eoff + pos + ksize > len(page):
                raise BoltError(self.path, f"branch element {i} runs past the end of the page", pgid)
            out.append((page[eoff + pos:eoff + pos + ksize], child))
        return out

    def _walk(self, pgid: int, seen: set[int]) -> list[tuple[int, bytes, bytes]]:
        """All leaf elements under page `pgid`, in key order."""
        if pgid in seen:
            raise BoltError(self.path, "page is referenced twice (cycle or shared subtree)", pgid)
        seen.add(pgid)
        flags, count, page = self._page(pgid)
        if flags == LEAF:
            items = self._elements(page, count, pgid)
        elif flags == BRANCH:
            if count == 0:
                raise BoltError(self.path, "empty branch page", pgid)
            items = []
            for _key, child in self._branches(page, count, pgid):
                items.extend(self._walk(child, seen))
        else:
            raise BoltError(self.path, f"expected a branch or leaf page, found flags {flags:#06x}", pgid)
        keys = [k for _, k, _ in items]
        if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
            raise BoltError(self.path, "keys are not in ascending order", pgid)
        return items

    def _bucket_items(self, value: bytes, seen: set[int], name: str) -> list[tuple[int, bytes, bytes]]:
        if len(value) < BUCKET_HEADER:
            raise BoltError(self.path, f"bucket {name!r}: header is truncated")
        root, _seq = struct.unpack_from("<QQ", value)
        if root != 0:
            return self._walk(root, seen)
        inline = value[BUCKET_HEADER:]
        if len(inline) < PAGE_HEADER:
            raise BoltError(self.path, f"inline bucket {name!r}: page is truncated")
        _pid, flags, count, _ovf = struct.unpack_from("<QHHI", inline)
        if flags != LEAF:
            raise BoltError(self.path, f"inline bucket {name!r}: expected a leaf page, found flags {flags:#06x}")
        return self._elements(inline, count, None)

    # --- public -------------------------------------------------------------------------------------

    def read_all(self) -> dict[bytes, dict[bytes, Any]]:
        """Every bucket as a nested dict: key -> value bytes, or key -> dict for a nested bucket."""
        seen: set[int] = set()

        def build(items: list[tuple[int, bytes, bytes]], name: str) -> dict[bytes, Any]:
            out: dict[bytes, Any] = {}
            for flags, key, value in items:
                if flags & BUCKET_LEAF_FLAG:
                    sub = f"{name}/{key.decode(errors='replace')}" if name else key.decode(errors="replace")
                    out[key] = build(self._bucket_items(value, seen, sub), sub)
                else:
                    out[key] = value
            return out

        root = self._walk(self.meta.root, seen)
        return build(root, "")


def read_buckets(path: str | os.PathLike[str]) -> dict[bytes, dict[bytes, Any]]:
    """Read a whole bbolt file: {bucket name: {key: value | nested dict}}."""
    return BoltFile.open(Path(path)).read_all()
