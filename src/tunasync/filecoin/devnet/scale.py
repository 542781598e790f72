"""`tunasync devnet --scale mainnet`: a chain as big as Filecoin mainnet, derived on demand, never stored.

Mainnet has thousands of miner actors, millions of market deals and providers with 100,000+ verified
claims. The devnet cannot store that and needs not: every synthetic row is a pure function of its ID.

    miners    the `--providers` listening miners (f01000, f01001, ...) first, then `miners - providers`
              actors f02000000, f02000001, ... that exist on chain only (PeerId, no multiaddrs, nobody listens)
    deals     IDs 1..deals belong to the chain-only miners (active, 32 GiB pieces); our own deals get
              IDs above them
    claims    every listening miner holds `claims` synthetic DDO claims (live sectors), besides the claims
              of the deals made on the devnet; our own claims get IDs above all synthetic ones

At this scale `Filecoin.StateMarketDeals` is refused the way a Lotus gateway (glif and the like) refuses
it: the gateway API does not have the method, so go-jsonrpc answers -32601 "method ... not found".
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...content.cid import CID, FIL_COMMITMENT_UNSEALED, SHA2_256_TRUNC254_PADDED
from .chain import FIRST_ACTOR

CHAIN_ONLY_BASE = 2_000_000  # actor IDs of the miners that exist on chain only
SYNTH_CLIENT_BASE = 3_000_000  # clients of the synthetic deals and claims
SYNTH_SECTOR_BASE = 10_000_000  # sector numbers of synthetic deals/claims (real sectors count from 1)
SECTOR_32G = 34_359_738_368
MAX_PROVIDERS = 100  # `tunasync devnet --providers` upper bound; claim-ID stride per listening miner


@dataclass(frozen=True)
class Scale:
    name: str = "devnet"
    miners: int = 0  # total miner actors on chain (0: only the listening ones)
    deals: int = 0  # synthetic market deals
    claims: int = 0  # synthetic claims per listening miner

    @property
    def mainnet(self) -> bool:
        return self.name == "mainnet"

    @property
    def first_deal_id(self) -> int:
        """Where the devnet's own deal IDs start."""
        return self.deals + 1

    @property
    def first_claim_id(self) -> int:
        return MAX_PROVIDERS * self.claims + 1


SCALES = {"devnet": Scale(), "mainnet": Scale("mainnet", miners=5_000, deals=1_000_000, claims=100_000)}


def parse_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r} (known: {', '.join(SCALES)})") from None


_PIECE_PREFIX = CID.v1(FIL_COMMITMENT_UNSEALED, bytes(32), SHA2_256_TRUNC254_PADDED).bytes[:-32]


def synthetic_piece(kind: str, n: int) -> str:
    """A well-formed piece CID v1 (baga…), distinct per (kind, n); nobody holds its bytes."""
    d = bytearray(hashlib.sha256(f"devnet-{kind}-{n}".encode()).digest())
    d[31] &= 0x3F  # a field element of the fr32 tree: the top two bits are zero
    # CID.encode's text (multibase "b", lower-case unpadded base32), done by the C base32 for 100,000s of rows
    return "b" + base64.b32encode(_PIECE_PREFIX + d).decode().lower().rstrip("=")


class Synthetic:
    """The derived part of a mainnet-scale chain; `listening` = the `--providers` count."""

    def __init__(self, scale: Scale, listening: int):
        self.scale = scale
        self.listening = listening
        self.chain_only = max(0, scale.miners - listening)

    # -- miners ------------------------------------------------------------------------------------
    def chain_only_actor(self, i: int) -> str:
        return f"f0{CHAIN_ONLY_BASE + i}"

    def miners(self) -> Iterator[str]:
        for i in range(self.listening):
            yield f"f0{FIRST_ACTOR + i}"
        for i in range(self.chain_only):
            yield self.chain_only_actor(i)

    def is_chain_only(self, actor: str) -> bool:
        n = _actor_num(actor)
        return n is not None and CHAIN_ONLY_BASE <= n < CHAIN_ONLY_BASE + self.chain_only

    # -- deals -------------------------------------------------------------------------------------
    def has_deal(self, deal_id: int) -> bool:
        return 1 <= deal_id <= self.scale.deals and self.chain_only > 0

    def deal(self, deal_id: int) -> dict[str, Any]:
        """The synthetic deal as the devnet's deal row (see rpc.market_deal_json)."""
        return {"piece_cid": synthetic_piece("deal", deal_id), "piece_size": SECTOR_32G, "verified": deal_id % 2 == 0,
                "client": f"f0{SYNTH_CLIENT_BASE + deal_id % 1000}",
                "provider": self.chain_only_actor(deal_id % self.chain_only), "label": "",
                "start_epoch": 50, "end_epoch": 5_000_000, "sector_start_epoch": 60, "last_updated": 60,
                "slash_epoch": -1, "sector_number": SYNTH_SECTOR_BASE + deal_id}

    # -- claims ------------------------------------------------------------------------------------
    def claim_range(self, provider_idx: int) -> range:
        if not 0 <= provider_idx < self.listening or not self.scale.claims:
            return range(0)
        first = provider_idx * self.scale.claims + 1
        return range(first, first + self.scale.claims)

    def claim(self, provider_idx: int, claim_id: int) -> dict[str, Any]:
        """The synthetic claim as the devnet's claim row (see rpc.claim_json)."""
        return {"provider": f"f0{FIRST_ACTOR + provider_idx}", "client": f"f0{SYNTH_CLIENT_BASE + claim_id % 1000}",
                "piece_cid": synthetic_piece("claim", claim_id), "size": SECTOR_32G, "term_min": 518_400,
                "term_max": 5_256_000, "term_start": 50 + claim_id % 40, "sector": SYNTH_SECTOR_BASE + claim_id}

    def claim_owner(self, claim_id: int) -> int | None:
        """Index of the listening miner holding synthetic claim `claim_id`, or None."""
        if not self.scale.claims or claim_id < 1:
            return None
        idx = (claim_id - 1) // self.scale.claims
        return idx if idx < self.listening else None

    def claims_json(self, provider_idx: int) -> Iterator[str]:
        """`"id": {claim}` members of a StateGetClaims answer, a few thousand per chunk."""
        actor_num = FIRST_ACTOR + provider_idx
        part: list[str] = []
        for c in self.claim_range(provider_idx):
            part.append(f'"{c}":{{"Provider":{actor_num},"Client":{SYNTH_CLIENT_BASE + c % 1000},'
                        f'"Data":{{"/":"{synthetic_piece("claim", c)}"}},"Size":{SECTOR_32G},"TermMin":518400,'
                        f'"TermMax":5256000,"TermStart":{50 + c % 40},"Sector":{SYNTH_SECTOR_BASE + c}}}')
            if len(part) == 2000:
                yield ",".join(part)
                part = []
        if part:
            yield ",".join(part)

    # -- sectors -----------------------------------------------------------------------------------
    def has_sector(self, actor: str, sector: int) -> bool:
        """Synthetic deals' and claims' sectors are live (only sector numbers at or above the base)."""
        if sector <= SYNTH_SECTOR_BASE:
            return False
        n = sector - SYNTH_SECTOR_BASE
        if self.is_chain_only(actor):
            return self.has_deal(n) and self.chain_only_actor(n % self.chain_only) == actor
        num = _actor_num(actor)
        owner = self.claim_owner(n)
        return num is not None and owner is not None and FIRST_ACTOR + owner == num


def _actor_num(actor: str) -> int | None:
    if len(actor) > 2 and actor[:2] in ("f0", "t0") and actor[2:].isdigit():
        return int(actor[2:])
    return None
