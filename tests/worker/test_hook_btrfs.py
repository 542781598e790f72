"""The Btrfs snapshot hook (docs/compat.md §7.3), against the stand-in `btrfs` of tests/worker/stand-ins (no
Btrfs filesystem on the test host): subvolumes are directories the stand-in keeps a list of."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.worker.attemptkit import attempt, make_provider
from tunasync.worker.config_models import BtrfsSnapshotConfig
from tunasync.worker.hooks.base import HookError
from tunasync.worker.hooks.btrfs import BtrfsSnapshotHook


def btrfs_provider(tmp_path, command="sh -c 'echo v1 > data'", **mirror):
    section = BtrfsSnapshotConfig(enable=True, snapshot_path=str(tmp_path / "snapshots"))
    (tmp_path / "snapshots").mkdir(exist_ok=True)
    (tmp_path / "mirrors").mkdir(exist_ok=True)  # the subvolume's parent must exist, as with real btrfs
    return make_provider(tmp_path, {}, {"btrfs_snapshot": section}, provider="command", command=command, **mirror)


async def test_subvolume_created_then_snapshot_published(tmp_path, stand_ins):
    p = btrfs_provider(tmp_path)
    hook = p.hooks[1]
    assert isinstance(hook, BtrfsSnapshotHook) and hook.snapshot_path == str(tmp_path / "snapshots" / "m")
    wd, snap = p.working_dir, hook.snapshot_path
    assert await attempt(p) is None
    assert (Path(snap) / "data").read_text() == "v1\n"
    assert stand_ins.calls("btrfs") == [["subvolume", "create", wd], ["subvolume", "snapshot", wd, snap]]

    p = btrfs_provider(tmp_path, command="sh -c 'echo v2 > data'")
    assert await attempt(p) is None
    assert (Path(snap) / "data").read_text() == "v2\n"
    assert stand_ins.calls("btrfs")[2:] == [
        ["subvolume", "show", wd], ["subvolume", "show", snap], ["subvolume", "delete", snap],
        ["subvolume", "snapshot", wd, snap],
    ]


async def test_failed_run_keeps_the_old_snapshot(tmp_path, stand_ins):
    assert await attempt(btrfs_provider(tmp_path)) is None
    n = len(stand_ins.calls("btrfs"))
    p = btrfs_provider(tmp_path, command="sh -c 'echo broken > data; exit 1'")
    assert await attempt(p) == "exit status 1"
    assert stand_ins.calls("btrfs")[n:] == [["subvolume", "show", p.working_dir]]  # pre-job check only
    assert (tmp_path / "snapshots" / "m" / "data").read_text() == "v1\n"


async def test_plain_dirs_are_refused(tmp_path, stand_ins):
    p = btrfs_provider(tmp_path, snapshot_path=str(tmp_path / "explicit-snap"))
    hook = p.hooks[1]
    assert hook.snapshot_path == str(tmp_path / "explicit-snap")
    (tmp_path / "mirrors" / "m").mkdir()
    with pytest.raises(HookError, match=f"^path {p.working_dir} exists but isn't a Btrfs subvolume$"):
        await hook.pre_job()
    (tmp_path / "explicit-snap").mkdir()
    with pytest.raises(HookError, match=f"^path {tmp_path}/explicit-snap exists and isn't a Btrfs snapshot$"):
        await hook.post_success()


async def test_btrfs_command_failure_is_reported(tmp_path, stand_ins, monkeypatch):
    monkeypatch.setenv("STANDIN_BTRFS_FAIL", "create")
    p = btrfs_provider(tmp_path)
    with pytest.raises(HookError, match=r"btrfs subvolume create .*: exit status 1: ERROR: stand-in told to fail"):
        await p.hooks[1].pre_job()
