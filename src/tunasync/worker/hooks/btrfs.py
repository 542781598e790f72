"""The Btrfs snapshot hook (docs/compat.md §7.3), through the `btrfs` command line.

pre-job: a missing working dir is created as a subvolume; an existing one must be a subvolume
(`path <p> exists but isn't a Btrfs subvolume`). post-success: an existing snapshot must be a
subvolume (`path <p> exists and isn't a Btrfs snapshot`) and is deleted, then a new writable
snapshot of the working dir is taken there. post-fail: nothing, the old snapshot stays published.
Tests use a stand-in `btrfs` executable first on PATH (no Btrfs filesystem on the test host).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import TYPE_CHECKING

from ...childenv import child_env
from ..runner import exit_text
from .base import HookError, JobHook

if TYPE_CHECKING:
    from ..providers.base import Provider


def _exists(path: str) -> bool:
    return os.path.exists(path)  # one stat: not worth a thread


async def btrfs(*args: str) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "btrfs", *args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=child_env())
    except OSError as exc:
        raise HookError(f"cannot run btrfs: {exc}") from None
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _must(*args: str) -> None:
    rc, out = await btrfs(*args)
    if rc != 0:
        detail = f": {out}" if out else ""
        raise HookError(f"btrfs {' '.join(args)}: {exit_text(rc)}{detail}")


async def is_subvolume(path: str) -> bool:
    rc, _ = await btrfs("subvolume", "show", path)
    return rc == 0


class BtrfsSnapshotHook(JobHook):
    def __init__(self, provider: Provider, snapshot_path: str):
        super().__init__(provider)
        self.snapshot_path = snapshot_path

    async def pre_job(self) -> None:
        wd = self.provider.working_dir
        if not _exists(wd):
            await _must("subvolume", "create", wd)
        elif not await is_subvolume(wd):
            raise HookError(f"path {wd} exists but isn't a Btrfs subvolume")

    async def post_success(self) -> None:
        snap = self.snapshot_path
        if _exists(snap):
            if not await is_subvolume(snap):
                raise HookError(f"path {snap} exists and isn't a Btrfs snapshot")
            await _must("subvolume", "delete", snap)
        await _must("subvolume", "snapshot", self.provider.working_dir, snap)
