"""`[archive]`: the archive tier's own config section, one validated model used everywhere.

The worker's config loader reads the file and validates this section with the rest (errors name file
and key); the worker then hands the archive tier this model plus, per archived mirror, what only the
worker can resolve (working directory, upstream, provider kind: see `settings.MirrorSpec`). Nothing in
`tunasync.archive` imports the worker: the arrows point worker -> archive (tests/archive/test_layers.py).

The CLI (`tunasync archive`, `tunasync filecoin -c`), the worker and `tunasync serve -c` all open the
network from this model (`runtime.open_network`); no code reads the section as a dict.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ..configmodel import Section, size_value

MAX_COPIES = 100
MAX_KEEP_YEARS = 1_000.0
MAX_BUNDLE = 64 << 30  # bundle_size: one piece must fit a sector (64 GiB is the largest)
MAX_BYTES = 1 << 60  # cache_budget
MAX_CONCURRENT_RUNS = 64

DEFAULT_DEVNET_URL = "http://127.0.0.1:14300"
DEFAULT_IPNI_URL = "https://cid.contact"

NetworkKind = Literal["devnet", "filecoin"]
ProfileName = Literal["ipfs-car", "kubo-v1", "kubo"]


class ArchiveConfig(Section):
    """`[archive]`: the Filecoin archive tier."""

    network: NetworkKind = "devnet"
    """devnet (local, `tunasync devnet`) or filecoin (real chain RPC, IPNI, providers)."""
    devnet_url: str = DEFAULT_DEVNET_URL
    """URL of the devnet when network = devnet."""
    lotus_url: str = ""
    """Filecoin chain JSON-RPC URL (needed for network = filecoin)."""
    lotus_token: str = ""
    """Token of lotus_url, if it needs one."""
    ipni_url: str = DEFAULT_IPNI_URL
    """Network indexer used to find providers of a CID."""
    singularity_url: str = ""
    """Singularity API that makes our storage deals."""
    providers: list[str] = []
    """Storage provider IDs the Singularity backend makes deals with."""
    gateways: list[str] = []
    """Trustless-gateway URLs tried for retrievals."""
    copies: Annotated[int, Field(ge=1, le=MAX_COPIES)] = 3
    """Verified copies a file needs before it may leave the disk."""
    keep_years: Annotated[float, Field(ge=0, le=MAX_KEEP_YEARS)] = 2.0
    """Years (by mtime) a file stays on disk before it may be evicted."""
    profile: ProfileName = "ipfs-car"
    """UnixFS profile for file CIDs: ipfs-car, kubo-v1 or kubo."""
    bundle_size: Annotated[int, Field(gt=0, le=MAX_BUNDLE)] = 1 << 30  # TOML takes "1GiB"-style strings or an integer
    """Target size of a CAR bundle (one piece), e.g. 1GiB."""
    index_dir: str = "/var/lib/tunasync/archive"
    """Where the per-mirror archive index and staged CARs live."""
    cache_budget: Annotated[int, Field(ge=0, le=MAX_BYTES)] | None = None  # None = no budget
    """Bytes of retrieved files kept on disk; unset: no limit."""
    count_foreign_copies: bool = True
    """Count copies others stored, after a chain check and a verified sample retrieval."""
    verify_before_evict: bool = True
    """Retrieve and verify a file once before deleting it from disk."""
    piece_url: str = ""
    """Public base URL where `tunasync serve` offers our CARs at /piece/{pieceCid}."""
    reorder_buffer: Annotated[int, Field(gt=0)] = 256 << 20
    """Bytes a retrieval may hold while a gateway sends a CAR in unknown block order, e.g. 256MiB."""
    price_per_tib_year: Annotated[float, Field(ge=0)] | None = None
    """Storage price per TiB per year, for `tunasync archive plan`'s cost estimate only (none: no estimate)."""
    max_runs: Annotated[int, Field(ge=1, le=MAX_CONCURRENT_RUNS)] = 2
    """Archive runs (scan, hash, store, evict of one mirror) at once across all mirrors of the worker."""

    @field_validator("bundle_size", "cache_budget", "reorder_buffer", mode="before")
    @classmethod
    def _sizes(cls, value: Any) -> Any:
        return None if value is None else size_value(value)
