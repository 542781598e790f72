"""What a devnet storage provider does with a deal: fetch the CAR, check its CommP, keep it, index it,
announce it to the devnet IPNI (as its kind would: devnet/ipni.py). Also the local ways in: seeding "foreign" copies and storing a CAR
that is already on this machine (benchmarks).

Layout under the data dir: `providers/<actor>/pieces/<pieceCid>.car`; block offsets live in the
`blocks` table (multihash → piece, offset, length), so `/ipfs/` can serve any block it holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from ...content.carread import iter_car
from ...content.cid import CID
from ...content.piece import CommP
from ...errors import CarError, ContentError
from .context import Devnet
from .ipni import announcement

log = logging.getLogger("tunasync.devnet")
FETCH_CHUNK = 4 << 20


class ProviderRuntime:
    def __init__(self, net: Devnet):
        self.net = net
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def pieces_dir(self, actor: str) -> Path:
        d = self.net.data_dir / "providers" / actor / "pieces"
        d.mkdir(parents=True, exist_ok=True)
        return d

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60))
        self.net.on_deal_proposed = self.deal_proposed
        # deals proposed before a restart are fetched again
        for d in await self.net.db(self.net.store.deals, "state = 'proposed' AND stored = 0"):
            await self.deal_proposed(d["id"])

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def deal_proposed(self, row_id: int) -> None:
        task = asyncio.create_task(self._accept(row_id), name=f"deal-{row_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, row_id: int) -> None:
        net = self.net
        rows = await net.db(net.store.deals, "id = ?", (row_id,))
        if not rows:
            return
        deal = rows[0]
        actor = deal["provider"]
        if net.faults.has(actor, "offline"):
            log.info("deal %d: provider %s is offline; the proposal will expire", row_id, actor)
            return
        try:
            tmp = await self._fetch(deal)
            piece = CID.decode(deal["piece_cid"])
            await asyncio.to_thread(self.ingest, actor, tmp, piece, deal["piece_size"], bool(deal["verified"]))
        except (TimeoutError, OSError, aiohttp.ClientError, ContentError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("deal %d rejected by %s: %s", row_id, actor, reason)
            await net.db(net.store.update_deal, row_id, state="error", error=reason, last_updated=net.chain.epoch)
            return
        await net.db(net.store.update_deal, row_id, stored=1, last_updated=net.chain.epoch)

    async def _fetch(self, deal: dict[str, Any]) -> Path:
        """Download the CAR into a temporary file while computing its CommP; reject on mismatch."""
        assert self._session is not None
        tmp = self.pieces_dir(deal["provider"]) / f".{deal['piece_cid']}.{deal['id']}.partial"
        commp = CommP()
        size = 0
        try:
            async with self._session.get(deal["car_url"]) as resp:
                if resp.status != 200:
                    raise ContentError(f"GET {deal['car_url']}: HTTP {resp.status}")
                f = await asyncio.to_thread(open, tmp, "wb")
                with f:
                    buf = bytearray()
                    async for chunk in resp.content.iter_chunked(1 << 20):
                        buf += chunk
                        if len(buf) >= FETCH_CHUNK:
                            data, buf = bytes(buf), bytearray()
                            await asyncio.to_thread(_write_and_hash, f, commp, data)
                            size += len(data)
                    if buf:
                        await asyncio.to_thread(_write_and_hash, f, commp, bytes(buf))
                        size += len(buf)
            info = await asyncio.to_thread(commp.digest)
            want = CID.decode(deal["piece_cid"]).to_v1()
            if info.v1 != want or info.padded_size != deal["piece_size"]:
                raise ContentError(f"CommP mismatch: fetched {size} bytes with piece {info.v1} (size "
                                   f"{info.padded_size}), deal names {want} (size {deal['piece_size']})")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    # -- storage (sync: call from a thread) ----------------------------------------------------
    def ingest(self, actor: str, car: Path, piece: CID, padded_size: int, verified: bool, copy: bool = False) -> Path:
        """Keep `car` as this provider's copy of `piece`, index its blocks and announce them."""
        final = self.pieces_dir(actor) / f"{piece}.car"
        if copy:
            tmp = final.with_name(f".{final.name}.copy")
            shutil.copyfile(car, tmp)
            car = tmp
        index = []
        with open(car, "rb") as f:
            stream = iter_car(f, verify=True)
            roots = stream.roots
            for s in stream.sections():
                index.append((actor, s.cid.multihash, str(piece), s.offset, s.length))
        if not roots:
            raise CarError("CAR has no root")
        os.replace(car, final)
        store = self.net.store
        store.execute("DELETE FROM blocks WHERE provider = ? AND piece_cid = ?", (actor, str(piece)))
        store.executemany("INSERT OR IGNORE INTO blocks(provider, mh, piece_cid, offset, length) VALUES(?,?,?,?,?)", index)
        store.execute("INSERT OR REPLACE INTO pieces(provider, piece_cid, path, size, root_cid) VALUES(?,?,?,?,?)",
                      (actor, str(piece), str(final), final.stat().st_size, str(roots[0])))
        ctx, meta = announcement(self.net.provider(actor), piece, padded_size, verified)
        store.execute("INSERT OR REPLACE INTO announcements(provider, piece_cid, context_id, metadata) VALUES(?,?,?,?)",
                      (actor, str(piece), ctx, meta))
        return final

    def locate(self, actor: str, cid: CID) -> tuple[str, int, int] | None:
        """(CAR path, offset, length) of a block this provider holds."""
        rows = self.net.store.query(
            "SELECT p.path, b.offset, b.length FROM blocks b JOIN pieces p ON p.provider = b.provider AND "
            "p.piece_cid = b.piece_cid WHERE b.provider = ? AND b.mh = ? LIMIT 1", (actor, cid.multihash))
        return (rows[0]["path"], rows[0]["offset"], rows[0]["length"]) if rows else None

    def piece_path(self, actor: str, piece: CID) -> Path | None:
        rows = self.net.store.query("SELECT path FROM pieces WHERE provider = ? AND piece_cid = ?", (actor, str(piece)))
        return Path(rows[0]["path"]) if rows else None


def _write_and_hash(f: Any, commp: CommP, data: bytes) -> None:
    f.write(data)
    commp.update(data)
