"""A provider with its hooks, from a merged leaf mirror and the worker config (docs/compat.md §4.4, §7.7).

Hook order: loglimit, zfs?, btrfs?, docker (enabled and the mirror has `docker_image`) or else
cgroup?, then one exec hook per command: exec_on_success (effective list), exec_on_success_extra,
exec_on_failure (effective list), exec_on_failure_extra. The job walks pre-job/pre-exec forwards and
the post points backwards, so later exec commands run first (quirk 26, kept).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ...providerkind import ProviderKind
from ..config_models import MirrorConfig, WorkerConfig
from ..config_resolve import ResolvedMirror, resolve_mirror
from ..hooks.base import JobHook
from ..hooks.btrfs import BtrfsSnapshotHook
from ..hooks.cgroup import CgroupHook, init_cgroup
from ..hooks.docker import DockerHook
from ..hooks.exec_post import ExecPostHook
from ..hooks.loglimit import LogLimitHook
from ..hooks.zfs import ZfsHook
from .base import Provider
from .command import CommandProvider
from .rsync import RsyncProvider
from .two_stage import TwoStageRsyncProvider

# The registry: one builder per provider kind. A kind missing here fails the test that walks the enum;
# a kind outside the enum never gets this far (resolve_mirror refuses it, naming file and key).
BUILDERS: dict[ProviderKind, Callable[[ResolvedMirror, WorkerConfig], Provider]] = {
    ProviderKind.RSYNC: RsyncProvider,
    ProviderKind.TWO_STAGE_RSYNC: TwoStageRsyncProvider,
    ProviderKind.COMMAND: lambda r, _cfg: CommandProvider(r),
}


def build_provider(
    mirror: MirrorConfig, cfg: WorkerConfig, archive_hook: Callable[[Provider], JobHook] | None = None
) -> Provider:
    """The provider of `mirror`, hooks attached; ConfigError (file, key) if the mirror is invalid."""
    r = resolve_mirror(mirror, cfg)
    provider = BUILDERS[r.kind](r, cfg)

    provider.add_hook(LogLimitHook(provider))
    # ---- ARCHIVE HOOK PLACE (archive tier) ----
    # `archive_hook(provider)` goes right after the log limiter: post points walk the list backwards,
    # so its post_success runs last, after exec_on_success commands and the btrfs snapshot, while the
    # time-stamped log is still current; its pre_exec runs early and may set the context key
    # ARCHIVE_EXCLUDE_KEY (providers/process.py) so rsync skips evicted files.
    if archive_hook is not None and mirror.archive:
        provider.add_hook(archive_hook(provider))
    if cfg.zfs.enable:
        provider.add_hook(ZfsHook(provider, cfg.zfs.zpool))
    if cfg.btrfs_snapshot.enable:
        snapshot = mirror.snapshot_path or os.path.join(cfg.btrfs_snapshot.snapshot_path, mirror.name)
        provider.add_hook(BtrfsSnapshotHook(provider, snapshot))
    if cfg.docker.enable and mirror.docker_image:
        provider.add_hook(DockerHook(provider, cfg.docker, mirror))
    elif cfg.cgroup.enable:
        provider.add_hook(CgroupHook(provider, init_cgroup(cfg.cgroup), r.memory_limit))
    for argv in r.exec_on_success:
        provider.add_hook(ExecPostHook(provider, "success", argv))
    for argv in r.exec_on_failure:
        provider.add_hook(ExecPostHook(provider, "failure", argv))
    return provider
