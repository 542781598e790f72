"""Singularity REST storage backend (docs/filecoin.md §5): register our own prepared pieces, schedule one deal per
provider, read deal state back.

We prepare CARs and CommP ourselves; Singularity only holds the wallet, signs and tracks deals. The
provider fetches the CAR from `PieceRef.car_url` (our `tunasync serve` at `/piece/{pieceCid}`, given
to Singularity as a `urlTemplate`). Its deal list is the backend's word: copies are counted by the
ChainObserver only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..content.cid import CID
from ..errors import NetworkError
from .http import Http
from .interfaces import DealRef, DealState, PieceRef, StorageBackend


class SingularityBackend(StorageBackend):
    def __init__(self, url: str, providers: Sequence[str], *, preparation: str = "tunasync", http: Http | None = None,
                 deal_type: str = "market", verified: bool = False, duration: str = "12840h",
                 start_delay: str = "72h", price_per_gb: float = 0.0):
        self.url = url.rstrip("/")
        self.providers = list(providers)
        self.preparation = preparation
        self.http = http or Http()
        self.deal_type = deal_type
        self.verified = verified
        self.duration = duration
        self.start_delay = start_delay
        self.price_per_gb = price_per_gb
        self._prep_id: int | None = None

    async def _call(self, method: str, path: str, body: Any = None, once: bool = False) -> Any:
        """`once`: never repeat (creating a schedule twice would make two deals)."""
        url = f"{self.url}{path}"
        return await self.http.json(method, url, json_body=body, endpoint=url, retries=0 if once else None)

    async def preparation_id(self) -> int:
        """The preparation our pieces live in, created on first use."""
        if self._prep_id is not None:
            return self._prep_id
        preps = await self._call("GET", "/preparation")
        if not isinstance(preps, list):
            raise NetworkError(f"{self.url}/preparation", "malformed answer (not a list)")
        for p in preps:
            if isinstance(p, dict) and p.get("name") == self.preparation:
                self._prep_id = int(p["id"])
                return self._prep_id
        created = await self._call("POST", "/preparation", once=True, body={
            "name": self.preparation, "sourceStorages": [], "outputStorages": [], "maxSize": "31.5GiB",
            "pieceSize": "32GiB", "noInline": False, "noDag": True})
        if not isinstance(created, dict) or "id" not in created:
            raise NetworkError(f"{self.url}/preparation", "malformed answer to create (no id)")
        self._prep_id = int(created["id"])
        return self._prep_id

    async def add_piece(self, piece: PieceRef) -> None:
        prep = await self.preparation_id()
        await self._call("POST", f"/preparation/{prep}/piece", {
            "pieceCid": str(piece.piece_cid), "pieceSize": str(piece.padded_size), "fileSize": piece.payload_size,
            "rootCid": str(piece.root_cid)})

    async def schedule(self, piece: PieceRef, provider: str) -> None:
        prep = await self.preparation_id()
        template = piece.car_url.replace(str(piece.piece_cid), "{PIECE_CID}")
        if "{PIECE_CID}" not in template:
            raise ValueError(f"car_url {piece.car_url!r} must end in the piece CID (…/piece/{piece.piece_cid})")
        await self._call("POST", "/schedule", once=True, body={
            "preparation": str(prep), "provider": provider, "dealType": self.deal_type, "verified": self.verified,
            "pricePerGb": self.price_per_gb, "duration": self.duration, "startDelay": self.start_delay,
            "urlTemplate": template, "totalDealNumber": 1, "allowedPieceCids": [str(piece.piece_cid)],
            "ipni": True, "keepUnsealed": True})

    async def offer(self, piece: PieceRef, providers_wanted: int) -> list[DealRef]:
        """Schedule deals with providers that hold no live deal for the piece, untried ones first."""
        if providers_wanted <= 0:
            return []
        await self.add_piece(piece)
        existing = await self.deals(piece.piece_cid)
        busy = {d.provider for d in existing if d.state.live}
        failed = {d.provider for d in existing if d.state.ended}
        choices = [p for p in self.providers if p not in busy and p not in failed]
        choices += [p for p in self.providers if p in failed and p not in busy]
        picked = choices[:providers_wanted]
        for provider in picked:
            await self.schedule(piece, provider)
        after = await self.deals(piece.piece_cid)
        return [d for d in after if d.provider in picked and d.state.live]

    async def deals(self, piece_cid: CID) -> list[DealRef]:
        prep = await self.preparation_id()
        rows = await self._call("POST", "/deal", {"preparations": [str(prep)]})
        if not isinstance(rows, list):
            raise NetworkError(f"{self.url}/deal", "malformed answer (not a list)")
        want = str(piece_cid.to_v1())
        out = []
        for r in rows:
            if not isinstance(r, dict) or not isinstance(r.get("pieceCid"), str):
                raise NetworkError(f"{self.url}/deal", f"malformed deal {r!r}")
            if r["pieceCid"] != want:
                continue
            out.append(DealRef(deal_id=r.get("dealId"), provider=str(r.get("provider", "")),
                               state=DealState.parse(r.get("state", "error")), piece_cid=piece_cid,
                               claim_id=r.get("claimId"), end_epoch=r.get("endEpoch"),
                               error=str(r.get("errorMessage") or "")[:500]))
        return out

    async def close(self) -> None:
        await self.http.close()
