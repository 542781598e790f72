"""The ZFS hook (docs/compat.md §7.2): the working dir must be a mount point. The success case uses the
stand-in `mountpoint` of tests/worker/stand-ins (no ZFS dataset on the test host)."""

from __future__ import annotations

import shutil

import pytest

from tests.worker.attemptkit import make_provider
from tunasync.worker.config_models import ZfsConfig
from tunasync.worker.hooks.base import HookError
from tunasync.worker.hooks.zfs import ZfsHook


def zfs_provider(tmp_path):
    return make_provider(tmp_path, {}, {"zfs": ZfsConfig(enable=True, zpool="tank")}, provider="command",
                         command="true", name="Debian")


async def test_missing_dir_fails(tmp_path, caplog):
    p = zfs_provider(tmp_path)
    hook = p.hooks[1]
    assert isinstance(hook, ZfsHook)
    with pytest.raises(HookError, match="no such file or directory"):
        await hook.pre_job()
    assert "zfs create 'tank/debian'" in caplog.text  # the help names the lower-cased dataset


@pytest.mark.skipif(shutil.which("mountpoint") is None, reason="util-linux mountpoint is not installed")
async def test_plain_dir_is_not_a_mount_point(tmp_path):
    p = zfs_provider(tmp_path)
    (tmp_path / "mirrors" / "Debian").mkdir(parents=True)
    with pytest.raises(HookError, match="is not a mount point"):
        await p.hooks[1].pre_job()


async def test_mount_point_passes(tmp_path, stand_ins):
    p = zfs_provider(tmp_path)
    (tmp_path / "mirrors" / "Debian").mkdir(parents=True)
    stand_ins.add_line("mounts", p.working_dir)
    await p.hooks[1].pre_job()
    assert stand_ins.calls("mountpoint") == [["-q", p.working_dir]]
