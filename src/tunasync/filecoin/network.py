"""Build a `FilecoinNetwork`: a devnet at one URL, or the real network from its endpoints.

    open_devnet(url)        → everything at url (default http://127.0.0.1:14300): Lotus RPC /rpc/v1,
                              IPNI /cid/, Singularity /api; providers = the devnet's miners
    open_filecoin(lotus_url, ...) → lotus_url (+ token), ipni_url, singularity_url, gateways, providers

Typed arguments only: the `[archive]` section is validated once (archive/config.py) and turned into
one of these calls by `archive.runtime.open_network`. The archive code receives the bundle and never
learns which one it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..content.cid import CID
from ..content.reorder import DEFAULT_LIMIT
from ..errors import ArchiveError, NetworkError
from .http import Http, HttpSettings
from .interfaces import DealRef, FilecoinNetwork, PieceRef, StorageBackend
from .ipni import IpniClient
from .lotus import LotusChainObserver, LotusClient
from .retriever import VerifiedRetriever
from .singularity import SingularityBackend

DEFAULT_DEVNET_URL = "http://127.0.0.1:14300"
DEFAULT_IPNI_URL = "https://cid.contact"


class NoStorage(StorageBackend):
    """No storage backend configured: reading works, making copies does not."""

    async def offer(self, piece: PieceRef, providers_wanted: int) -> list[DealRef]:
        raise ArchiveError("no storage backend configured ([archive] singularity_url)")

    async def deals(self, piece_cid: CID) -> list[DealRef]:
        return []


async def open_devnet(url: str = DEFAULT_DEVNET_URL, settings: HttpSettings | None = None,
                      scratch_dir: Path | None = None, reorder_limit: int = DEFAULT_LIMIT) -> FilecoinNetwork:
    url = url.rstrip("/")
    http = Http(settings)
    lotus = LotusClient(f"{url}/rpc/v1", http=http)
    try:  # the devnet's listening miners (at --scale mainnet StateListMiners names thousands that do not listen)
        info = await http.json("GET", f"{url}/admin/info", endpoint=url)
        providers = [p["actor"] for p in info["providers"]] if isinstance(info, dict) else None
        if not providers or not all(isinstance(p, str) for p in providers):
            raise NetworkError(url, "/admin/info: malformed answer (no providers)")
    except (KeyError, TypeError):
        await http.close()
        raise NetworkError(url, "/admin/info: malformed answer (no providers)") from None
    except BaseException:
        await http.close()  # a devnet that is down must not leak a session per attempt
        raise
    router = IpniClient(url, http=http)
    return FilecoinNetwork(
        storage=SingularityBackend(f"{url}/api", providers, http=http, duration="12840h", start_delay="1h"),
        chain=LotusChainObserver(lotus), router=router,
        retriever=VerifiedRetriever(http=http, router=router, scratch_dir=scratch_dir, reorder_limit=reorder_limit),
        name=f"devnet {url}")


async def open_filecoin(lotus_url: str, *, lotus_token: str = "", ipni_url: str = DEFAULT_IPNI_URL,
                        singularity_url: str = "", providers: Sequence[str] = (), gateways: Sequence[str] = (),
                        settings: HttpSettings | None = None, scratch_dir: Path | None = None,
                        reorder_limit: int = DEFAULT_LIMIT) -> FilecoinNetwork:
    """The real network: chain RPC at `lotus_url`, IPNI, Singularity (when set) and trustless gateways."""
    http = Http(settings)
    router = IpniClient(ipni_url or DEFAULT_IPNI_URL, http=http)
    storage: StorageBackend = (SingularityBackend(singularity_url, list(providers), http=http) if singularity_url
                               else NoStorage())
    return FilecoinNetwork(
        storage=storage, chain=LotusChainObserver(LotusClient(lotus_url, lotus_token or None, http=http)),
        router=router,
        retriever=VerifiedRetriever(http=http, router=router, gateways=list(gateways), scratch_dir=scratch_dir,
                                    reorder_limit=reorder_limit),
        name=f"filecoin {lotus_url}")
