"""Build a `FilecoinNetwork` from a worker's `[archive]` section or from a devnet URL.

    network = "devnet"    → everything at devnet_url (default http://127.0.0.1:14300): Lotus RPC /rpc/v1,
                            IPNI /cid/, Singularity /api; providers = the devnet's miners
    network = "filecoin"  → lotus_url (+ lotus_token), ipni_url, singularity_url, gateways, providers

The archive code receives the bundle and never learns which one it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..content.cid import CID
from ..content.reorder import DEFAULT_LIMIT
from ..errors import ArchiveError, ConfigError, NetworkError
from ..tomlfile import read_toml
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


def _str(cfg: Mapping[str, Any], key: str, file: str | None, default: str | None = None) -> str | None:
    v = cfg.get(key, default)
    if v is not None and not isinstance(v, str):
        raise ConfigError(file, f"archive.{key}", f"must be a string, not {type(v).__name__}")
    return v


def _bytes(cfg: Mapping[str, Any], key: str, file: str | None, default: int) -> int:
    from ..worker.sizes import parse_size  # the go-units reader every size key of the config uses

    v = cfg.get(key, default)
    try:
        n = parse_size(v)
    except (ValueError, TypeError) as exc:
        raise ConfigError(file, f"archive.{key}", f"{exc} (a size such as \"256MiB\")") from None
    if n <= 0:
        raise ConfigError(file, f"archive.{key}", "must be more than 0 bytes")
    return n


def _list(cfg: Mapping[str, Any], key: str, file: str | None) -> list[str]:
    v = cfg.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigError(file, f"archive.{key}", "must be a list of strings")
    return list(v)


async def open_network(cfg: Mapping[str, Any], file: str | None = None, settings: HttpSettings | None = None,
                       scratch_dir: Path | None = None) -> FilecoinNetwork:
    """The network an `[archive]` section describes (see module docstring)."""
    kind = cfg.get("network", "devnet")
    reorder = _bytes(cfg, "reorder_buffer", file, DEFAULT_LIMIT)
    if kind == "devnet":
        return await open_devnet(_str(cfg, "devnet_url", file, DEFAULT_DEVNET_URL) or DEFAULT_DEVNET_URL,
                                 settings, scratch_dir, reorder)
    if kind != "filecoin":
        raise ConfigError(file, "archive.network", f"must be devnet or filecoin, not {kind!r}")
    lotus_url = _str(cfg, "lotus_url", file)
    if not lotus_url:
        raise ConfigError(file, "archive.lotus_url", "required when network = filecoin (e.g. https://api.node.glif.io/rpc/v1)")
    token = _str(cfg, "lotus_token", file)
    http = Http(settings)
    router = IpniClient(_str(cfg, "ipni_url", file, DEFAULT_IPNI_URL) or DEFAULT_IPNI_URL, http=http)
    sing = _str(cfg, "singularity_url", file)
    storage: StorageBackend = (SingularityBackend(sing, _list(cfg, "providers", file), http=http) if sing
                               else NoStorage())
    return FilecoinNetwork(
        storage=storage, chain=LotusChainObserver(LotusClient(lotus_url, token, http=http)), router=router,
        retriever=VerifiedRetriever(http=http, router=router, gateways=_list(cfg, "gateways", file),
                                    scratch_dir=scratch_dir, reorder_limit=reorder),
        name=f"filecoin {lotus_url}")


def load_archive_section(path: str | Path) -> dict[str, Any]:
    """The `[archive]` table of a worker config (only that table; the worker owns the rest)."""
    p = Path(path)
    doc = read_toml(str(p))
    section = doc.get("archive", {})
    if not isinstance(section, dict):
        raise ConfigError(str(p), "archive", "must be a table")
    return section
