"""What the worker hands the archive tier: the `[archive]` section and, per archived mirror, what only
the worker can resolve (working directory, upstream, provider kind, rsync binary and environment).

The arrows point worker -> archive: `tunasync.archive` never reads a WorkerConfig. The CLI
(`tunasync archive`, `tunasync serve -c`) and the worker's archive runner build their `ArchiveSetup`
here and open it with `archive.runtime.open_archive`.
"""

from __future__ import annotations

from ..archive.settings import ArchiveSetup, MirrorArchive, MirrorSpec, mirror_archive
from ..errors import ConfigError
from ..providerkind import ProviderKind
from .config_models import MirrorConfig, WorkerConfig
from .config_resolve import resolve_mirror
from .providers.rsync import keeps_dir_times, rsync_options
from .providers.two_stage import stage2_options


def mirror_spec(cfg: WorkerConfig, mirror: MirrorConfig) -> MirrorSpec:
    """One mirror as the archive tier needs it; ConfigError (file, key) when it does not resolve."""
    r = resolve_mirror(mirror, cfg)
    if r.kind is ProviderKind.RSYNC:
        dir_times = keeps_dir_times(rsync_options(r, cfg))
    elif r.kind is ProviderKind.TWO_STAGE_RSYNC:
        dir_times = keeps_dir_times(stage2_options(r))
    else:
        dir_times = False
    env = dict(mirror.env or {})
    if mirror.password:
        env["RSYNC_PASSWORD"] = mirror.password
    return MirrorSpec(name=mirror.name, root=r.working_dir, upstream=mirror.upstream, provider=r.kind,
                      rsync_cmd=r.rsync_cmd, rsync_env=env, copies=mirror.copies, keep_years=mirror.keep_years,
                      dir_times=dir_times)


def archive_setup(cfg: WorkerConfig) -> ArchiveSetup:
    """The archive tier of `cfg`: its section and every mirror with `archive = true`."""
    return ArchiveSetup.build(cfg.archive, [mirror_spec(cfg, m) for m in cfg.mirrors if m.archive], cfg.path)


def find_mirror(cfg: WorkerConfig, name: str) -> MirrorArchive:
    """The archived mirror `name`; ConfigError naming the config file when it is unknown or not archived."""
    m = cfg.mirror(name)
    if m is None:
        known = ", ".join(x.name for x in cfg.mirrors if x.archive) or "none"
        raise ConfigError(cfg.path, "mirrors", f"no mirror named {name!r} (archived mirrors: {known})")
    if not m.archive:
        raise ConfigError(m.file or cfg.path, f"{m.key}.archive" if m.key else "archive",
                          f"mirror {name!r} is not archived (set archive = true)")
    return mirror_archive(cfg.archive, mirror_spec(cfg, m), cfg.path)


def mirror_roots(cfg: WorkerConfig) -> list[tuple[str, str]]:
    """(name, working directory) of every mirror, archived or not (what `tunasync serve -c` offers)."""
    return [(m.name, resolve_mirror(m, cfg).working_dir) for m in cfg.mirrors]
