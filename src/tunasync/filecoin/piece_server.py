"""Our side of a deal: serve our prepared CARs at `GET|HEAD /piece/{pieceCid}` (FRC-0066 shape) so storage
providers can fetch them (Singularity's `urlTemplate`, `[archive] piece_url`).

`tunasync serve` mounts these routes with a lookup into the archive's staged CARs; Range, If-Range and
416 come from aiohttp's FileResponse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from ..content.cid import CID, RAW
from ..content.piece import v2_to_v1

Lookup = Callable[[CID], Awaitable[Path | None]]

HEADERS = {"Cache-Control": "public, max-age=29030400, immutable",
           "Content-Type": "application/vnd.ipld.car; version=1"}


def piece_handler(lookup: Lookup) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler for `/piece/{cid}`; `lookup(piece CID v1)` returns the CAR path or None."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            cid = CID.decode(request.match_info["cid"])
            if cid.codec == RAW:  # a v2 piece CID names the same piece
                cid = v2_to_v1(cid)
        except ValueError as exc:
            return web.Response(status=400, text=f"bad piece CID: {exc}\n")
        path = await lookup(cid)
        if path is None or not await asyncio.to_thread(path.is_file):
            return web.Response(status=404, text="piece not found\n")
        return web.FileResponse(path, headers=HEADERS)

    return handle


def add_piece_routes(app: web.Application, lookup: Lookup, prefix: str = "") -> None:
    handler = piece_handler(lookup)
    app.router.add_route("GET", f"{prefix}/piece/{{cid}}", handler)
    app.router.add_route("HEAD", f"{prefix}/piece/{{cid}}", handler)
