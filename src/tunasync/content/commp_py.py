"""The CommP tree in pure Python: the fallback for the C core, with the same `root(data, level)`.

Also the pieces both cores share: the zero-subtree constants and `RootStack`, which combines the
roots of consecutive aligned subtrees (a binary counter) and splices zero subtrees for the padding.
"""

from __future__ import annotations

import hashlib

from .fr32 import QUAD, capacity, expand, truncate_nodes

_sha256 = hashlib.sha256
BLOCK_LEVEL = 12  # 127·2^10 bytes per fr32 call: big enough to amortise, small enough for the cache
BLOCK = capacity(BLOCK_LEVEL)


def node(left: bytes, right: bytes) -> bytes:
    """One tree node: sha256(left ‖ right) truncated to 254 bits."""
    d = bytearray(_sha256(left + right).digest())
    d[31] &= 0x3F
    return bytes(d)


def _zeros(n: int) -> list[bytes]:
    z = [bytes(32)]
    for _ in range(n):
        z.append(node(z[-1], z[-1]))
    return z


ZERO = _zeros(64)  # ZERO[i]: root of a subtree of level i over zero bytes


def hash_layer(nodes: bytes | bytearray) -> bytearray:
    """Hash a layer of an even number of 32-byte nodes into the layer above."""
    out = bytearray(b"".join([_sha256(nodes[i : i + 64]).digest() for i in range(0, len(nodes), 64)]))
    truncate_nodes(out)
    return out


def _block_root(data: bytes | memoryview, level: int) -> bytes:
    """Root of a subtree of `level` ≤ BLOCK_LEVEL; `data` shorter than it holds is zero-padded."""
    if not len(data):
        return ZERO[level]
    rem = len(data) % QUAD
    if rem:
        data = bytes(data) + bytes(QUAD - rem)
    nodes = expand(data)
    lvl = 0
    while lvl < level:
        if len(nodes) % 64:
            nodes += ZERO[lvl]
        nodes = hash_layer(nodes)
        lvl += 1
    return bytes(nodes)


class RootStack:
    """Roots of consecutive subtrees, left to right, merged like a binary counter."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []  # (level, root), levels strictly decreasing

    def push(self, level: int, root: bytes) -> None:
        """Append the next subtree; it must start at an offset aligned to its own size."""
        items = self.items
        while items and items[-1][0] == level:
            _, left = items.pop()
            root = node(left, root)
            level += 1
        items.append((level, root))

    def fold(self, level: int, tail: tuple[int, bytes] | None = None) -> bytes:
        """Root of the tree of `level` holding the pushed subtrees, then `tail`, then zeros."""
        items = list(self.items)
        if tail is not None:
            items.append(tail)
        if not items:
            return ZERO[level]
        cur_level, cur = items.pop()
        while items:
            left_level, left = items.pop()
            while cur_level < left_level:
                cur = node(cur, ZERO[cur_level])
                cur_level += 1
            cur = node(left, cur)
            cur_level += 1
        while cur_level < level:
            cur = node(cur, ZERO[cur_level])
            cur_level += 1
        if cur_level != level:
            raise ValueError(f"subtrees of level {cur_level} do not fit a tree of level {level}")
        return cur


def root(data: bytes | bytearray | memoryview, level: int) -> bytes:
    """Root of the subtree of `level` over `data` (≤ 127·2^(level-2) bytes, zero-padded)."""
    mv = memoryview(data).cast("B")
    if not 2 <= level <= 58 or len(mv) > capacity(level):
        raise ValueError(f"{len(mv)} bytes do not fit a subtree of level {level}")
    if level <= BLOCK_LEVEL:
        return _block_root(mv, level)
    stack = RootStack()
    for off in range(0, len(mv), BLOCK):
        stack.push(BLOCK_LEVEL, _block_root(mv[off : off + BLOCK], BLOCK_LEVEL))
    return stack.fold(level)
