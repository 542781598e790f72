"""One mirror's archive settings: the `[archive]` section combined with what the worker resolved.

The worker resolves a mirror (working directory, rsync binary and environment, upstream, provider kind,
whether its rsync keeps directory times)
and hands this module a `MirrorSpec`; `mirror_archive` adds the section's defaults (a per-mirror
`copies` / `keep_years` of 0 means the section's) and lays out the per-mirror directory
`index_dir/<mirror>/`: `index.sqlite`, `cars/` (staged bundle CARs), `exclude.txt` (rsync rules),
`evicted/` (the shadow tree of evicted placeholders, `shadow.py`), `tmp/` (test retrievals). `ArchiveSetup` is the whole of it for one config: what `runtime.open_archive` opens.
The archive tier never reads the worker config itself (tests/archive/test_layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..providerkind import ProviderKind
from .config import ArchiveConfig
from .policy import Policy
from .shadow import SHADOW_NAME


@dataclass(frozen=True)
class MirrorSpec:
    """What the worker resolved about one archived mirror."""

    name: str
    root: str  # the mirror's working dir
    upstream: str = ""  # rsync upstream; "" for command mirrors
    provider: ProviderKind = ProviderKind.RSYNC
    rsync_cmd: str = "rsync"
    rsync_env: dict[str, str] = field(default_factory=dict)
    copies: int = 0  # 0: the section's
    keep_years: float = 0.0  # 0: the section's
    dir_times: bool = True  # its rsync keeps directory mtimes (False for command mirrors)


@dataclass(frozen=True)
class MirrorArchive:
    name: str
    root: str  # the mirror's working dir (files live here)
    dir: Path  # index_dir/<mirror>
    policy: Policy
    profile: str = "ipfs-car"
    bundle_size: int = 1 << 30
    piece_url: str = ""  # public base for /piece/{cid}; "" = an embedded loopback server
    upstream: str = ""  # rsync upstream (upstream-deletion check); "" for command mirrors
    provider: ProviderKind = ProviderKind.RSYNC
    rsync_cmd: str = "rsync"
    rsync_env: dict[str, str] = field(default_factory=dict)
    cache_budget: int | None = None
    config_file: str = ""
    dir_times: bool = True  # the provider's rsync keeps directory mtimes (the upstream check relies on it)

    @property
    def index_path(self) -> Path:
        return self.dir / "index.sqlite"

    @property
    def cars_dir(self) -> Path:
        return self.dir / "cars"

    @property
    def exclude_path(self) -> Path:
        return self.dir / "exclude.txt"

    @property
    def shadow_dir(self) -> Path:
        return self.dir / SHADOW_NAME

    @property
    def tmp_dir(self) -> Path:
        return self.dir / "tmp"

    def car_path(self, bundle_id: int) -> Path:
        return self.cars_dir / f"{bundle_id}.car"

    def ensure_dirs(self) -> None:
        for d in (self.dir, self.cars_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)


def mirror_archive(section: ArchiveConfig, spec: MirrorSpec, config_file: str = "") -> MirrorArchive:
    """Settings of one archived mirror; per-mirror `copies`/`keep_years` of 0 mean the section's."""
    policy = Policy(copies=spec.copies or section.copies, keep_years=spec.keep_years or section.keep_years,
                    verify_before_evict=section.verify_before_evict,
                    count_foreign_copies=section.count_foreign_copies)
    return MirrorArchive(
        name=spec.name, root=spec.root, dir=Path(section.index_dir) / spec.name, policy=policy,
        profile=section.profile, bundle_size=section.bundle_size, piece_url=section.piece_url.rstrip("/"),
        upstream=spec.upstream if spec.provider.rsync else "", provider=spec.provider,
        rsync_cmd=spec.rsync_cmd, rsync_env=dict(spec.rsync_env), cache_budget=section.cache_budget,
        config_file=config_file, dir_times=spec.dir_times)


@dataclass(frozen=True)
class ArchiveSetup:
    """The archive tier of one config: its section and its archived mirrors (what `open_archive` opens)."""

    section: ArchiveConfig = field(default_factory=ArchiveConfig)
    mirrors: tuple[MirrorArchive, ...] = ()
    file: str = ""  # the config file, for messages

    @classmethod
    def build(cls, section: ArchiveConfig, specs: list[MirrorSpec], file: str = "") -> ArchiveSetup:
        return cls(section, tuple(mirror_archive(section, s, file) for s in specs), file)

    def mirror(self, name: str) -> MirrorArchive | None:
        return next((m for m in self.mirrors if m.name == name), None)

    def only(self, name: str) -> ArchiveSetup:
        """This setup narrowed to one mirror (the CLI works on one at a time)."""
        return ArchiveSetup(self.section, tuple(m for m in self.mirrors if m.name == name), self.file)
