"""FRC-0066 piece gateway client: `GET /piece/{pieceCid}` (whole piece, or a Range).

The whole piece is written to a scratch file while its CommP is computed; it is handed back only
when the CommP equals the piece CID (and the padded size, when known). Ranges cannot be checked by
CommP alone: callers verify blocks by hash (the CAR index re-checks every block it reads).

A provider may send the payload zero-filled up to the piece's unpadded size (Curio does): zeros
change neither the CommP root nor the height, only the payload length a v2 piece CID carries. So a v2
CID matches a body when root and height agree and the body is at least the payload it names; the CAR
reader then ends at the zero section (`carread`, zero padding).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import BinaryIO

from ..content.cid import CID, RAW
from ..content.fr32 import capacity, payload_size_of
from ..content.piece import CommP, PieceInfo, v2_info
from ..errors import NetworkError, VerifyError
from .http import Http, wrap_errors

HASH_BATCH = 4 << 20


def piece_url(base: str, piece_cid: CID) -> str:
    return f"{base.rstrip('/')}/piece/{piece_cid}"


class PieceGateway:
    def __init__(self, http: Http | None = None):
        self.http = http or Http()

    async def fetch(self, base: str, piece_cid: CID, dest: Path, padded_size: int | None = None) -> int:
        """Download the piece payload to `dest` (created, or removed on any failure); return its size."""
        url = piece_url(base, piece_cid)
        commp = CommP()
        size = 0
        f = await asyncio.to_thread(open, dest, "wb")
        try:
            with f:
                async with self.http.open("GET", url, endpoint=url, retries=0) as resp:
                    buf = bytearray()
                    with wrap_errors(url):
                        async for chunk in resp.content.iter_chunked(1 << 20):
                            buf += chunk
                            if len(buf) >= HASH_BATCH:
                                data = bytes(buf)
                                buf.clear()
                                await asyncio.to_thread(_write_hash, f, commp, data)
                                size += len(data)
                    if buf:
                        await asyncio.to_thread(_write_hash, f, commp, bytes(buf))
                        size += len(buf)
                    expected = resp.content_length
                if expected is not None and expected != size:
                    raise NetworkError(url, f"short piece: {size} of {expected} bytes")
                await asyncio.to_thread(os.fsync, f.fileno())
            info = await asyncio.to_thread(commp.digest)
            if not matches(info, piece_cid):
                raise VerifyError(piece_cid, f"CommP of the {size} bytes from {url} is {info.v1}")
            if padded_size is not None and info.padded_size != padded_size:
                raise VerifyError(piece_cid, f"padded size {info.padded_size} from {url}, expected {padded_size}")
        except BaseException:
            await asyncio.to_thread(dest.unlink, True)
            raise
        return size

    async def read_range(self, base: str, piece_cid: CID, first: int, last: int) -> bytes:
        """Bytes [first, last] of the piece payload (unverified: the caller checks block hashes)."""
        url = piece_url(base, piece_cid)
        async with self.http.open("GET", url, headers={"Range": f"bytes={first}-{last}"}, ok=(206,),
                                  endpoint=url) as resp:
            with wrap_errors(url):
                data = await resp.read()
        if len(data) != last - first + 1:
            raise NetworkError(url, f"range {first}-{last}: got {len(data)} bytes")
        return data


def matches(info: PieceInfo, piece_cid: CID) -> bool:
    """Whether the CommP of what arrived is `piece_cid` (v1, or v2 allowing a zero-filled tail)."""
    if piece_cid.codec != RAW:
        return info.v1 == piece_cid.to_v1()
    try:
        root, padding, height = v2_info(piece_cid)
    except ValueError:
        return False
    return (info.root == root and info.height == height
            and payload_size_of(height, padding) <= info.payload_size <= capacity(height))


def _write_hash(f: BinaryIO, commp: CommP, data: bytes) -> None:
    f.write(data)
    commp.update(data)
