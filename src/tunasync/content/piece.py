"""Piece CIDs: CommP v1 (`baga6ea4seaq…`) and v2 (`bafkzcib…`, FRC-0069) of a payload (docs/cid.md §3).

The payload (a file, or a CAR: a deal carries the CAR's bytes) is cut into aligned chunks of
127·2^k bytes; a core (`_commp` in C, else `commp_py`) turns each chunk into a subtree root with
the GIL released, so chunks hash on several threads at once, and `RootStack` combines the roots
in order and splices zero subtrees for the padding. Set TUNASYNC_NO_NATIVE=1 to force the fallback.
Everything here blocks: from asyncio, call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from types import ModuleType

from . import commp_py
from .cid import (
    CID,
    FIL_COMMITMENT_UNSEALED,
    FR32_SHA256_TRUNC254_PADBINTREE,
    RAW,
    SHA2_256_TRUNC254_PADDED,
    decode_varint,
    encode_varint,
)
from .commp_py import RootStack
from .fr32 import capacity, level_for, payload_size_of, sizes


def _load_native() -> ModuleType | None:
    if os.environ.get("TUNASYNC_NO_NATIVE"):
        return None
    try:
        from . import _commp
    except ImportError:
        return None
    return _commp


_native = _load_native()
NATIVE: bool = _native is not None
_core = _native if _native is not None else commp_py

CHUNK_LEVEL = 17  # 127·2^15 B (≈ 4 MiB) per core call: one GIL release, one unit of parallel work
CHUNK = capacity(CHUNK_LEVEL)


@dataclass(frozen=True, slots=True)
class PieceInfo:
    """A payload's piece commitment and sizes; `padded_size` is the deal's PieceSize."""

    root: bytes
    v1: CID
    v2: CID
    padded_size: int
    payload_size: int
    height: int
    padding: int

    @classmethod
    def from_root(cls, root: bytes, payload_size: int) -> PieceInfo:
        padded, height, padding = sizes(payload_size)
        v1 = CID.v1(FIL_COMMITMENT_UNSEALED, root, SHA2_256_TRUNC254_PADDED)
        return cls(root, v1, _v2(root, height, padding), padded, payload_size, height, padding)

    @classmethod
    def from_v2(cls, v2: CID | str) -> PieceInfo:
        """Everything a v2 piece CID carries (it holds the sizes; v1 does not)."""
        root, padding, height = v2_info(v2)
        return cls.from_root(root, payload_size_of(height, padding))


def _v2(root: bytes, height: int, padding: int) -> CID:
    digest = encode_varint(padding) + bytes([height]) + root
    return CID.v1(RAW, digest, FR32_SHA256_TRUNC254_PADBINTREE)


def v1_to_v2(v1: CID | str, payload_size: int) -> CID:
    """The v2 piece CID of a v1 CommP whose payload was `payload_size` bytes."""
    cid = CID.decode(v1)
    if (cid.version, cid.codec, cid.mh_code, len(cid.digest)) != (1, FIL_COMMITMENT_UNSEALED, SHA2_256_TRUNC254_PADDED, 32):
        raise ValueError(f"{cid}: not a v1 piece CID (fil-commitment-unsealed + sha2-256-trunc254-padded)")
    _, height, padding = sizes(payload_size)
    return _v2(cid.digest, height, padding)


def v2_info(v2: CID | str) -> tuple[bytes, int, int]:
    """(root, padding, height) of a v2 piece CID; ValueError naming the CID when it is not one."""
    cid = CID.decode(v2)
    if cid.version != 1 or cid.codec != RAW or cid.mh_code != FR32_SHA256_TRUNC254_PADBINTREE:
        raise ValueError(f"{cid}: not a v2 piece CID (raw + fr32-sha256-trunc254-padbintree)")
    try:
        padding, pos = decode_varint(cid.digest)
    except ValueError as exc:
        raise ValueError(f"{cid}: bad padding varint in piece CID: {exc}") from None
    if len(cid.digest) != pos + 33:
        raise ValueError(f"{cid}: piece CID digest must be varint ‖ height ‖ 32-byte root")
    height = cid.digest[pos]
    # the height must be the smallest that holds the payload: the empty payload has padding 127
    limit = capacity(2) + 1 if height == 2 else capacity(height - 1)
    if not 2 <= height <= 58 or padding >= limit:
        raise ValueError(f"{cid}: padding {padding} does not fit a piece of height {height}")
    return cid.digest[pos + 1 :], padding, height


def v2_to_v1(v2: CID | str) -> CID:
    """Drop the sizes: the v1 CommP CID of a v2 piece CID."""
    root, _, _ = v2_info(v2)
    return CID.v1(FIL_COMMITMENT_UNSEALED, root, SHA2_256_TRUNC254_PADDED)


_pool: ThreadPoolExecutor | None = None
_pool_lock = Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(2, os.cpu_count() or 1), thread_name_prefix="commp")
        return _pool


class CommP:
    """Incremental piece hasher: `update()` payload bytes in order, then `digest()`.

    With `workers` > 1 (and the C core) full chunks hash on that many threads while more input
    arrives; `digest()` may be called more than once and updates may continue after it.
    """

    def __init__(self, workers: int | None = 1) -> None:
        n = (os.cpu_count() or 1) if workers is None else workers
        self._workers = max(1, n) if NATIVE else 1  # hashlib holds the GIL for 64-byte nodes
        self._buf = bytearray(CHUNK)
        self._fill = 0
        self._size = 0
        self._stack = RootStack()
        self._pending: deque[tuple[Future[bytes], bytearray | None]] = deque()
        self._free: list[bytearray] = []

    @property
    def size(self) -> int:
        """Payload bytes hashed so far."""
        return self._size

    def update(self, data: bytes | bytearray | memoryview) -> None:
        mv = memoryview(data).cast("B")
        self._size += len(mv)
        if not self._fill and (self._workers == 1 or isinstance(data, bytes)):
            # hash whole chunks straight from the caller's buffer: it cannot change under us
            # (immutable bytes, or hashed before update() returns)
            whole = len(mv) - len(mv) % CHUNK
            for off in range(0, whole, CHUNK):
                self._submit(mv[off : off + CHUNK], None)
            mv = mv[whole:]
        while mv:
            n = min(len(mv), CHUNK - self._fill)
            self._buf[self._fill : self._fill + n] = mv[:n]
            self._fill += n
            mv = mv[n:]
            if self._fill == CHUNK:
                self._flush()

    def update_from(self, f: io.BufferedIOBase | io.RawIOBase) -> int:
        """Hash a binary file object to its end, reading straight into the chunk buffers."""
        total = 0
        while True:
            n = f.readinto(memoryview(self._buf)[self._fill :])
            if not n:
                return total
            total += n
            self._size += n
            self._fill += n
            if self._fill == CHUNK:
                self._flush()

    def _flush(self) -> None:
        buf, self._fill = self._buf, 0
        self._submit(buf, buf)
        if self._workers > 1:
            self._buf = self._free.pop() if self._free else bytearray(CHUNK)

    def _submit(self, chunk: bytearray | memoryview, buf: bytearray | None) -> None:
        """Hash one whole chunk; with workers, keep at most workers + 1 in flight (no core idles
        while the caller reads the next one). `buf` is recycled once its chunk is hashed."""
        if self._workers == 1:
            self._stack.push(CHUNK_LEVEL, _core.root(chunk, CHUNK_LEVEL))
            return
        self._pending.append((_shared_pool().submit(_core.root, chunk, CHUNK_LEVEL), buf))
        while len(self._pending) > self._workers + 1:
            self._collect()

    def _collect(self) -> None:
        fut, buf = self._pending.popleft()
        self._stack.push(CHUNK_LEVEL, fut.result())
        if buf is not None:
            self._free.append(buf)

    def digest(self) -> PieceInfo:
        tail = None
        if self._fill:  # hashed here while the workers finish the chunks before it
            tail_level = level_for(self._fill)
            tail = (tail_level, _core.root(memoryview(self._buf)[: self._fill], tail_level))
        while self._pending:
            self._collect()
        return PieceInfo.from_root(self._stack.fold(level_for(self._size), tail), self._size)


def piece_of_bytes(data: bytes | bytearray | memoryview, workers: int | None = 1) -> PieceInfo:
    """Piece commitment of an in-memory payload."""
    h = CommP(workers)
    h.update(data)
    return h.digest()


def piece_of_file(path: str | os.PathLike[str], workers: int | None = None) -> PieceInfo:
    """Piece commitment of a file (or a CAR file), streamed; `workers` threads (default: all cores)."""
    h = CommP(workers)
    with open(Path(path), "rb", buffering=0) as f:
        h.update_from(f)
    return h.digest()
