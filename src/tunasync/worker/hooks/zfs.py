"""The ZFS hook (docs/compat.md §7.2): before a run, the working dir must exist and be a mount point.

It never creates datasets: on failure it logs how to (`zfs create`, set the mountpoint, chown).
Tests use a stand-in `mountpoint` executable for the success case (no ZFS pool on the test host).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from typing import TYPE_CHECKING

from ...childenv import child_env
from ..runner import exit_text
from .base import HookError, JobHook

if TYPE_CHECKING:
    from ..providers.base import Provider

log = logging.getLogger(__name__)


def _exists(path: str) -> bool:
    return os.path.exists(path)  # one stat: not worth a thread


class ZfsHook(JobHook):
    def __init__(self, provider: Provider, zpool: str = ""):
        super().__init__(provider)
        self.zpool = zpool

    def _help(self) -> None:
        wd, dataset = self.provider.working_dir, f"{self.zpool}/{self.provider.name.lower()}"
        log.error("Please create the ZFS dataset with:")
        log.error("    zfs create '%s'", dataset)
        log.error("    zfs set mountpoint='%s' '%s'", wd, dataset)
        if os.getuid() != 0:
            log.error("    chown %d '%s'", os.getuid(), wd)

    async def pre_job(self) -> None:
        wd = self.provider.working_dir
        if not _exists(wd):
            log.error("Directory %s doesn't exist", wd)
            self._help()
            raise HookError(f"stat {wd}: no such file or directory")
        try:
            proc = await asyncio.create_subprocess_exec("mountpoint", "-q", wd, stdin=subprocess.DEVNULL,
                                                        env=child_env())
        except OSError as exc:
            raise HookError(f"cannot run mountpoint: {exc}") from None
        rc = await proc.wait()
        if rc != 0:
            log.error("%s is not a mount point", wd)
            self._help()
            raise HookError(f"{wd} is not a mount point (mountpoint -q: {exit_text(rc)})")
