"""Piece sizes and the fr32 expansion (docs/cid.md §3.1), pure Python.

Levels count from the 32-byte leaves: level 0 is a leaf, level 2 the root of one 127-byte quad
(4 leaves), level h the root of 127·2^(h-2) payload bytes. A piece of height h has P = 32·2^h bytes.
"""

from __future__ import annotations

QUAD = 127  # payload bytes that fr32 expands into 128 (four 254-bit field elements)
MIN_LEVEL = 2
MAX_LEVEL = 58  # 127·2^56 bytes; far beyond any Filecoin sector (64 GiB = level 31)

_MASK_3F = bytes(b & 0x3F for b in range(256))


def capacity(level: int) -> int:
    """Payload bytes a subtree of `level` holds."""
    return QUAD << (level - 2)


def level_for(payload_size: int) -> int:
    """Smallest level whose subtree holds `payload_size` bytes (the empty payload gets one quad)."""
    if payload_size < 0:
        raise ValueError(f"negative payload size {payload_size}")
    quads = max(1, -(-payload_size // QUAD))
    return MIN_LEVEL + (quads - 1).bit_length()


def sizes(payload_size: int) -> tuple[int, int, int]:
    """(padded piece size P, height, padding) of a payload, as FRC-0069 defines them."""
    height = level_for(payload_size)
    return 32 << height, height, capacity(height) - payload_size


def payload_size_of(height: int, padding: int) -> int:
    """Inverse of `sizes`: the payload length a (height, padding) pair describes."""
    return capacity(height) - padding


def expand(data: bytes | bytearray | memoryview) -> bytearray:
    """fr32-expand whole quads: 127·n bytes in, 128·n bytes out.

    Vectorised with big integers: shifting the whole span right by 254·k bits puts field element k
    of every quad at a byte boundary (quad q starts at bit 1016·q), so strided slices copy it out.
    """
    nb = len(data)
    if nb % QUAD:
        raise ValueError(f"fr32 input must be whole 127-byte quads, got {nb} bytes")
    out = bytearray(nb + nb // QUAD)
    if not nb:
        return out
    x = int.from_bytes(data, "little")
    for k in range(4):
        y = (x >> (254 * k)).to_bytes(nb, "little") if k else bytes(data)
        base = 32 * k
        for j in range(31):
            out[base + j :: 128] = y[j::QUAD]
        out[base + 31 :: 128] = y[31::QUAD].translate(_MASK_3F)
    return out


def truncate_nodes(buf: bytearray) -> None:
    """Clear the top two bits of every 32-byte node in place (the 254-bit truncation)."""
    buf[31::32] = buf[31::32].translate(_MASK_3F)
