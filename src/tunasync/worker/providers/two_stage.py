"""The two-stage rsync provider (docs/compat.md §6.3): stage 1 without deletions and with a profile's
excludes, then a full rsync into the same dir and log. A stage 1 failure stops the run.

Kept from Go: `global.rsync_options`, `rsync_override` and `rsync_override_only` do not apply here
(quirk 29), and in stage 2 the mirror's `rsync_options` come before `--timeout` (quirk 28): both
change the argv operators already rely on.
"""

from __future__ import annotations

from collections.abc import Callable

from ...providerkind import ProviderKind
from ..config_models import WorkerConfig
from ..config_resolve import ResolvedMirror
from .base import ProviderError
from .rsync import BASE_OPTIONS, RsyncBase, ip_options, rsync_env, timeout_options

STAGE1_BASE = ["-aHvh", "--no-o", "--no-g", "--stats", "--filter", "risk .~tmp~/", "--exclude", ".~tmp~/", "--safe-links"]
STAGE1_PROFILES = {
    "debian": [
        "--include=*.diff/", "--include=by-hash/", "--exclude=*.diff/Index", "--exclude=Contents*",
        "--exclude=Packages*", "--exclude=Sources*", "--exclude=Release*", "--exclude=InRelease",
        "--exclude=i18n/*", "--exclude=dep11/*", "--exclude=installer-*/current", "--exclude=ls-lR*",
    ],
    "debian-oldstyle": [
        "--exclude=Packages*", "--exclude=Sources*", "--exclude=Release*", "--exclude=InRelease",
        "--exclude=i18n/*", "--exclude=ls-lR*", "--exclude=dep11/*",
    ],
}


def _tail(resolved: ResolvedMirror) -> list[str]:
    m = resolved.config
    return timeout_options(resolved) + ip_options(resolved) + (["--exclude-from", m.exclude_file] if m.exclude_file else [])


def stage1_options(resolved: ResolvedMirror) -> list[str]:
    profile = STAGE1_PROFILES.get(resolved.config.stage1_profile)
    if profile is None:
        raise ProviderError("Invalid Stage 1 Profile")
    return STAGE1_BASE + profile + _tail(resolved)


def stage2_options(resolved: ResolvedMirror) -> list[str]:
    return BASE_OPTIONS + list(resolved.config.rsync_options) + _tail(resolved)


class TwoStageRsyncProvider(RsyncBase):
    kind = ProviderKind.TWO_STAGE_RSYNC

    def __init__(self, resolved: ResolvedMirror, cfg: WorkerConfig):
        super().__init__(resolved, env=rsync_env(resolved))
        self.stage2 = stage2_options(resolved)

    async def run(self, started: Callable[[], None]) -> None:
        self._reset()
        self.data_size = ""
        self.check_upstream()
        # An unknown stage1_profile fails each run of this mirror only, as in Go (two_stage_rsync_provider.go)
        await self._rsync(stage1_options(self.resolved), started)
        # The job's timeout runs from stage 1's start; only that one is reported as "started".
        await self._rsync(self.stage2, None, append=True)
        self.data_size = await self._size()
