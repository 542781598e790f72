"""The devnet chain: an epoch that advances every `epoch_seconds`, and the market ticking with it.

Each tick persists the new head and applies `market.step` to every live deal, handing out chain deal
IDs at publication and sector numbers (plus a verified-registry claim for DDO deals) at sealing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from typing import Any

from ...content.cid import b58encode
from ..interfaces import DealState
from .faults import Faults
from .market import LIVE, MarketParams, step
from .store import Store
from .tipset import Tipsets

log = logging.getLogger("tunasync.devnet")

GENESIS_EPOCH = 100
FIRST_DEAL_ID = 1
FIRST_CLAIM_ID = 1
FIRST_ACTOR = 1000
FOREIGN_CLIENT = "f09999"  # the client of seeded "someone else's" copies
OUR_CLIENT = "f01999"  # the client of deals made through the Singularity API


def peer_id_for(actor: str) -> str:
    """A libp2p-style Ed25519 peer ID (12D3KooW…), deterministic per actor."""
    key = hashlib.sha256(f"devnet-peer-{actor}".encode()).digest()
    return b58encode(bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + key)


class Chain:
    def __init__(self, store: Store, faults: Faults, params: MarketParams, epoch_seconds: float,
                 first_deal_id: int = FIRST_DEAL_ID, first_claim_id: int = FIRST_CLAIM_ID):
        self.store = store
        self.first_deal_id = first_deal_id
        self.first_claim_id = first_claim_id
        self.faults = faults
        self.params = params
        self.epoch_seconds = epoch_seconds
        self.epoch: int = store.get_meta("epoch", GENESIS_EPOCH)
        if store.get_meta("epoch") is None:
            store.set_meta("epoch", self.epoch)
        for key, first in (("next_deal_id", first_deal_id), ("next_claim_id", first_claim_id)):
            if (store.get_meta(key) or first) < first:  # a devnet-scale data dir restarted at mainnet scale
                store.set_meta(key, first)
        self.tipsets = Tipsets(f"f0{FIRST_ACTOR}", self.epoch, time.time())
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.RLock()  # the loop's tick and /admin/tick may overlap
        self.ticked = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="devnet-chain")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.epoch_seconds
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += self.epoch_seconds
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # a bad row must not stop the chain
                log.exception("chain tick failed at epoch %d", self.epoch)
            self.ticked.set()
            self.ticked = asyncio.Event()

    def tick(self) -> int:
        """Advance one epoch and run the market; returns the new head."""
        with self._lock:
            epoch = self.epoch + 1
            self.store.set_meta("epoch", epoch)
            self.epoch = epoch
            self.tipsets.advance(epoch, time.time())
            for deal in self.store.deals(f"state IN ({', '.join('?' * len(LIVE))})", sorted(LIVE)):
                self.apply(deal, step(deal, epoch, self.params, self.faults.kinds(deal["provider"])), epoch)
            return epoch

    def apply(self, deal: dict[str, Any], changes: dict[str, Any], epoch: int) -> None:
        if not changes:
            return
        with self._lock:
            self._apply(deal, dict(changes), epoch)

    def _apply(self, deal: dict[str, Any], changes: dict[str, Any], epoch: int) -> None:
        if changes.pop("publish", False) and deal["deal_type"] != "ddo":
            changes["deal_id"] = self.store.next_counter("next_deal_id", self.first_deal_id)
        if changes.pop("seal", False):
            sector = self.store.next_counter(f"next_sector:{deal['provider']}", 1)
            changes["sector_number"] = sector
            self.store.execute("INSERT OR REPLACE INTO sectors(provider, sector, activation, live) VALUES(?,?,?,1)",
                               (deal["provider"], sector, epoch))
            if deal["deal_type"] == "ddo":
                changes["claim_id"] = self.add_claim(deal, epoch, sector)
        if changes.get("state") in (DealState.SLASHED, DealState.EXPIRED) and deal.get("sector_number") is not None:
            self.store.execute("UPDATE sectors SET live = 0 WHERE provider = ? AND sector = ?",
                               (deal["provider"], deal["sector_number"]))
        self.store.update_deal(deal["id"], **changes)
        log.info("deal %s (%s, %s) -> %s at epoch %d", deal["id"], deal["provider"], deal["piece_cid"],
                 changes.get("state", deal["state"]), epoch)

    def add_claim(self, deal: dict[str, Any], epoch: int, sector: int) -> int:
        claim_id = self.store.next_counter("next_claim_id", self.first_claim_id)
        term = max(1, deal["end_epoch"] - deal["start_epoch"])
        self.store.execute(
            "INSERT INTO claims(claim_id, provider, client, piece_cid, size, term_min, term_max, term_start, sector)"
            " VALUES(?,?,?,?,?,?,?,?,?)",
            (claim_id, deal["provider"], deal["client"], deal["piece_cid"], deal["piece_size"], term, term,
             epoch, sector))
        return claim_id

    async def wait_epochs(self, n: int) -> None:
        target = self.epoch + n
        while self.epoch < target:
            await self.ticked.wait()
