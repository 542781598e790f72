"""One mirror's archive settings, resolved from the worker config (`[archive]` + per-mirror keys).

The worker config loader already validated every key (file + key in errors); this only combines
the section defaults with a mirror's own `copies` / `keep_years` and lays out the per-mirror
directory `index_dir/<mirror>/`: `index.sqlite`, `cars/` (staged bundle CARs), `exclude.txt` (rsync
rules), `evicted/` (the shadow tree of evicted placeholders, `shadow.py`), `tmp/` (test retrievals).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..providerkind import ProviderKind
from .policy import Policy
from .shadow import SHADOW_NAME

if TYPE_CHECKING:
    from ..worker.config_models import MirrorConfig, WorkerConfig


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
    network: dict[str, Any] = field(default_factory=dict)  # the [archive] table for open_network
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


def mirror_archive(cfg: WorkerConfig, mirror: MirrorConfig) -> MirrorArchive:
    """Settings of one archived mirror; per-mirror `copies`/`keep_years` of 0 mean the section's."""
    from ..worker.config_resolve import resolve_mirror
    from ..worker.providers.rsync import keeps_dir_times, rsync_options
    from ..worker.providers.two_stage import stage2_options

    a = cfg.archive
    r = resolve_mirror(mirror, cfg)
    policy = Policy(copies=mirror.copies or a.copies, keep_years=mirror.keep_years or a.keep_years,
                    verify_before_evict=a.verify_before_evict, count_foreign_copies=a.count_foreign_copies)
    if r.kind is ProviderKind.RSYNC:
        dir_times = keeps_dir_times(rsync_options(r, cfg))
    elif r.kind is ProviderKind.TWO_STAGE_RSYNC:
        dir_times = keeps_dir_times(stage2_options(r))
    else:
        dir_times = False
    env = dict(mirror.env or {})
    if getattr(mirror, "password", ""):
        env["RSYNC_PASSWORD"] = mirror.password
    return MirrorArchive(
        name=mirror.name, root=r.working_dir, dir=Path(a.index_dir) / mirror.name, policy=policy,
        profile=a.profile, bundle_size=a.bundle_size, piece_url=a.piece_url.rstrip("/"),
        upstream=mirror.upstream if r.kind.rsync else "", provider=r.kind,
        rsync_cmd=r.rsync_cmd,
        rsync_env=env, cache_budget=a.cache_budget, network=a.model_dump(), config_file=cfg.path,
        dir_times=dir_times)


def archived_mirrors(cfg: WorkerConfig) -> list[MirrorArchive]:
    return [mirror_archive(cfg, m) for m in cfg.mirrors if m.archive]


def find_mirror(cfg: WorkerConfig, name: str) -> MirrorArchive:
    """The archived mirror `name`; ConfigError naming the config file when it is unknown or not archived."""
    m = cfg.mirror(name)
    if m is None:
        known = ", ".join(x.name for x in cfg.mirrors if x.archive) or "none"
        raise ConfigError(cfg.path, "mirrors", f"no mirror named {name!r} (archived mirrors: {known})")
    if not m.archive:
        raise ConfigError(m.file or cfg.path, f"{m.key}.archive" if m.key else "archive",
                          f"mirror {name!r} is not archived (set archive = true)")
    return mirror_archive(cfg, m)


def load(config_path: str | os.PathLike[str]) -> WorkerConfig:
    from ..worker.config import load_worker_config

    return load_worker_config(config_path)
