"""Where storage providers fetch our staged bundle CARs: `<piece_base>/piece/<pieceCid>`.

With `[archive] piece_url` set, that public URL is the base (`tunasync serve -c` answers it). Without
it, the archive runs its own small loopback server while it works, which is what the devnet (and a
provider on the same host) needs; a real provider needs the public URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import web

from ..content.cid import CID
from ..filecoin.piece_server import Lookup, add_piece_routes
from .bundles import rebuild_car
from .index import ArchiveIndex
from .settings import MirrorArchive

log = logging.getLogger(__name__)


Pairs = Iterable[tuple[MirrorArchive, ArchiveIndex]]


def car_lookup(mirrors: Pairs) -> Lookup:
    """`piece CID -> staged CAR path` over several mirrors; a missing CAR of an open bundle is rebuilt."""
    pairs = list(mirrors)

    def find(piece: str) -> Path | None:
        for ms, index in pairs:
            b = index.bundle_by_piece(piece)
            if b is None or b.state == "packing":
                continue
            path = ms.car_path(b.id)
            if path.is_file() or (b.state != "stored" and rebuild_car(ms, index, b.id)):
                return path
        return None

    async def lookup(cid: CID) -> Path | None:
        return await asyncio.to_thread(find, str(cid))

    return lookup


class PieceServer:
    """A loopback HTTP server offering the staged CARs (started only when piece_url is not set).

    `mirrors`: the (settings, index) pairs, or a blocking callable giving them at each request (the
    archive runtime's, so mirrors a reload adds are offered too)."""

    def __init__(self, mirrors: Pairs | Callable[[], Pairs], host: str = "127.0.0.1", port: int = 0):
        if callable(mirrors):
            self.source: Callable[[], Pairs] = mirrors
        else:
            fixed = list(mirrors)
            self.source = lambda: fixed
        self.host = host
        self.port = port
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> str:
        app = web.Application()
        add_piece_routes(app, self.lookup)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        port = next((int(a[1]) for a in self.runner.addresses if isinstance(a, tuple)), self.port)
        self.base = f"http://{self.host}:{port}"
        log.info("archive: offering staged CARs at %s/piece/{pieceCid}", self.base)
        return self.base

    async def lookup(self, cid: CID) -> Path | None:
        pairs = await asyncio.to_thread(lambda: list(self.source()))
        return await car_lookup(pairs)(cid)

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
