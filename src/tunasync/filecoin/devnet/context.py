"""What every devnet handler shares: the store, the chain, the faults and the providers' identities."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .chain import Chain
from .faults import Faults
from .market import MarketParams
from .scale import Scale, Synthetic
from .store import Store

T = TypeVar("T")


PROVIDER_KINDS = ("curio", "boost", "bitswap-only")


@dataclass(frozen=True)
class ProviderInfo:
    """One storage provider. `kind` picks whose habits it has (docs/filecoin.md "IPNI records"):
    curio announces under its own IPNI peer ID with `/dns/…/http` addresses; boost and bitswap-only
    announce under the on-chain peer ID."""

    actor: str  # f01000, f01001, ...
    idx: int
    peer_id: str  # the on-chain one (StateMinerInfo.PeerId)
    port: int
    host: str
    kind: str = "curio"
    ipni_peer_id: str = ""  # the peer ID of its IPNI records ("" = the on-chain one)

    @property
    def multiaddr(self) -> str:
        """On chain (StateMinerInfo) and in IPNI records: HTTP retrieval at this provider's port."""
        if self.kind == "curio" and self.host in ("127.0.0.1", "localhost"):
            return f"/dns/localhost/tcp/{self.port}/http"  # Curio turns its domain name into /dns/
        return f"/ip4/{self.host}/tcp/{self.port}/http"

    @property
    def libp2p_multiaddr(self) -> str:
        """What a bitswap announcement names (a libp2p transport, no HTTP)."""
        return f"/ip4/{self.host}/tcp/{self.port}"

    @property
    def announce_peer_id(self) -> str:
        return self.ipni_peer_id or self.peer_id

    @property
    def url(self) -> str:
        """The base URL a client derives from `multiaddr` (http://localhost:P for curio)."""
        host = "localhost" if self.multiaddr.startswith("/dns/localhost/") else self.host
        return f"http://{host}:{self.port}"


@dataclass
class Devnet:
    data_dir: Path
    store: Store
    chain: Chain
    faults: Faults
    params: MarketParams
    host: str
    port: int
    providers: list[ProviderInfo] = field(default_factory=list)
    token: str | None = None
    on_deal_proposed: Callable[[int], Awaitable[None]] | None = None  # set by the provider runtime
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # set at shutdown: ends hangs and waits
    scale: Scale = field(default_factory=Scale)
    synthetic: Synthetic | None = None  # the derived mainnet-scale rows (`--scale mainnet`)
    rpc_stats: dict[str, list[int]] = field(default_factory=dict)  # method -> [calls, response bytes]

    async def pause(self, seconds: float) -> None:
        """Sleep for a fault, but not past shutdown."""
        try:
            await asyncio.wait_for(self.closing.wait(), seconds)
        except TimeoutError:
            pass

    def provider(self, actor: str) -> ProviderInfo | None:
        for p in self.providers:
            if p.actor == actor:
                return p
        return None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)
