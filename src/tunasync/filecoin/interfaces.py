"""The four faces of the Filecoin network the archive tier talks to (docs/filecoin.md §5, §8).

    StorageBackend   makes copies (offer a piece to providers) and reports its own view of deals
    ChainObserver    the independent truth: which distinct providers hold a live copy (docs/filecoin.md §4.3)
    ContentRouter    IPNI hints: who announces a CID
    Retriever        verified fetch of a CID or a byte range of it (docs/filecoin.md §6.3)

Plain dataclasses in and out; every method is async. `FilecoinNetwork` bundles one of each, so the
archive code never knows whether it talks to the devnet or to the real network.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..content.cid import CID


class DealState(StrEnum):
    """A deal's state as Singularity names it (docs/filecoin.md §5): the backend's view, never proof of a copy.
    The one definition: the archive, the Singularity client and the devnet's market all use it."""

    PROPOSED = "proposed"
    PUBLISHED = "published"
    ACTIVE = "active"
    EXPIRED = "expired"
    PROPOSAL_EXPIRED = "proposal_expired"
    REJECTED = "rejected"
    SLASHED = "slashed"
    ERROR = "error"

    @property
    def pending(self) -> bool:
        """Under way: may still become a copy."""
        return self in (DealState.PROPOSED, DealState.PUBLISHED)

    @property
    def live(self) -> bool:
        """Under way or active: the provider is busy with this piece."""
        return self.pending or self is DealState.ACTIVE

    @property
    def ended(self) -> bool:
        """Failed or over: never a copy again (a new deal is needed)."""
        return not self.live

    @classmethod
    def parse(cls, text: object) -> DealState:
        """The state a backend reports; a word we do not know is ERROR (never silently live)."""
        try:
            return cls(str(text))
        except ValueError:
            return cls.ERROR


@dataclass(frozen=True, slots=True)
class PieceRef:
    """One prepared piece: what a provider must fetch and what the chain will name."""

    piece_cid: CID  # piece CID v1 (baga…)
    padded_size: int  # P, a power of two >= 128
    payload_size: int  # CAR bytes
    root_cid: CID  # the CAR's root (deal label)
    car_url: str  # where providers fetch the CAR, e.g. http://host/piece/{piece_cid}


@dataclass(frozen=True, slots=True)
class DealRef:
    """A deal as the storage backend sees it. `deal_id` is the chain deal ID once published."""

    deal_id: int | None
    provider: str  # actor address, f0…
    state: DealState
    piece_cid: CID | None = None
    claim_id: int | None = None  # DDO deals: the verified-registry claim
    end_epoch: int | None = None
    error: str = ""  # why it failed, in the backend's or provider's words (Singularity's errorMessage)


@dataclass(frozen=True, slots=True)
class ClaimRef:
    provider: str  # f0…
    claim_id: int


@dataclass(frozen=True, slots=True)
class CopyDetail:
    """Why one deal or claim was or was not counted."""

    provider: str
    kind: str  # "deal" | "claim"
    ident: int  # deal ID or claim ID
    counted: bool
    reason: str  # "active", "published (not sealed)", "slashed at 123", ...


@dataclass(frozen=True, slots=True)
class CopyReport:
    providers: list[str]  # distinct providers holding a live copy, sorted
    epoch: int
    details: list[CopyDetail] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.providers)


@dataclass(frozen=True, slots=True)
class MinerInfo:
    actor: str
    peer_id: str | None  # None: the miner never set one (`PeerId: null` on real nodes)
    multiaddrs: list[str]  # text form; unreadable on-chain entries were skipped (multiaddr.readable)

    def http_urls(self) -> list[str]:
        """Base URLs of the HTTP retrieval endpoints among the multiaddrs (multiaddr.http_url's rules)."""
        from .multiaddr import http_urls

        return http_urls(self.multiaddrs, "lotus.StateMinerInfo", self.actor)


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """One IPNI provider result for a CID."""

    peer_id: str
    addrs: list[str]
    protocols: list[str]  # "bitswap", "graphsync", "http-gateway", "piece-http"
    piece_cid: CID | None = None  # from graphsync metadata or a Curio ContextID
    padded_size: int | None = None  # from a Curio ContextID
    context_id: bytes = b""

    def http_urls(self) -> list[str]:
        from .multiaddr import http_urls

        return http_urls(self.addrs, "ipni", self.peer_id)


@dataclass(frozen=True, slots=True)
class Candidate:
    """Somewhere to fetch from: a trustless gateway or a provider's HTTP endpoint."""

    url: str  # base URL: http://host:port
    piece_cid: CID | None = None  # enables the /piece/ fallback
    name: str = ""  # provider actor / peer, for messages


@dataclass(frozen=True, slots=True)
class FetchResult:
    cid: CID
    path: Path
    size: int  # bytes written
    source: str  # the URL that served the verified bytes
    failures: list[str] = field(default_factory=list)  # candidates skipped, with the reason


class StorageBackend(abc.ABC):
    """Makes copies. Its word is never proof: count copies only through ChainObserver."""

    @abc.abstractmethod
    async def offer(self, piece: PieceRef, providers_wanted: int) -> list[DealRef]:
        """Ask up to `providers_wanted` providers (not already holding it) to store `piece`."""

    @abc.abstractmethod
    async def deals(self, piece_cid: CID) -> list[DealRef]:
        """Every deal this backend made for the piece, in its own words."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass


class ChainObserver(abc.ABC):
    """Chain facts: head epoch and live copies of a piece (docs/filecoin.md §4.3)."""

    @abc.abstractmethod
    async def head(self) -> int: ...

    @abc.abstractmethod
    async def verified_copies(self, piece_cid: CID, padded_size: int, deal_ids: Sequence[int] = (),
                              claims: Sequence[ClaimRef] = (), providers: Sequence[str] = ()) -> CopyReport:
        """Distinct providers with a live deal (from `deal_ids`) or claim (from `claims`, or any claim
        of one of `providers`) for exactly (piece_cid v1, padded_size) at the head epoch."""

    @abc.abstractmethod
    async def miner_info(self, actor: str) -> MinerInfo: ...

    async def discover_deals(self, piece_cid: CID) -> dict[int, int]:
        """{deal ID: padded size} of deals naming the piece, via StateMarketDeals (devnet, private nodes).
        Raises errors.UnsupportedMethod when the node does not offer it (public nodes): then deal IDs
        come from the storage backend only."""
        return {}

    async def claimed_sizes(self, piece_cid: CID, providers: Sequence[str]) -> set[int]:
        """Padded sizes that claims of `providers` give the piece (from their claim lists)."""
        return set()

    @property
    def claim_lists(self) -> dict[str, dict[str, float]]:
        """Claim lists fetched so far: provider -> {"claims": n, "bytes": b, "seconds": s}."""
        return {}

    async def actor_for_peer(self, peer_id: str) -> str | None:
        """The miner actor whose StateMinerInfo names this libp2p peer ID, when it can be found."""
        return None

    async def close(self) -> None:  # noqa: B027
        pass


class ContentRouter(abc.ABC):
    @abc.abstractmethod
    async def providers(self, cid: CID) -> list[ProviderRecord]:
        """Who announces `cid`; [] when nobody does (IPNI 404)."""

    async def close(self) -> None:  # noqa: B027
        pass


class Retriever(abc.ABC):
    @abc.abstractmethod
    async def fetch(self, cid: CID, out_path: Path, byte_range: tuple[int, int] | None = None,
                    candidates: Sequence[Candidate] | None = None) -> FetchResult:
        """Write the verified file (or inclusive byte range) to `out_path`; never a partial file there."""

    @abc.abstractmethod
    def stream(self, cid: CID, byte_range: tuple[int, int] | None = None,
               candidates: Sequence[Candidate] | None = None) -> AsyncIterator[bytes]:
        """Yield verified bytes in order; raises before yielding anything unverified."""

    async def fetch_piece(self, piece_cid: CID, out_path: Path, candidates: Sequence[Candidate],
                          padded_size: int | None = None) -> str:
        """Write a whole piece, checked against its CommP, to `out_path`; return where it came from.
        Raises NetworkError when no candidate delivered it (retrievers without pieces: always)."""
        from ..errors import NetworkError

        raise NetworkError(str(piece_cid), "this retriever does not fetch whole pieces")

    async def close(self) -> None:  # noqa: B027
        pass


@dataclass
class FilecoinNetwork:
    """One of each face; what the archive tier and `tunasync serve` are given."""

    storage: StorageBackend
    chain: ChainObserver
    router: ContentRouter
    retriever: Retriever
    name: str = "filecoin"

    async def close(self) -> None:
        for part in (self.retriever, self.router, self.chain, self.storage):
            await part.close()
