"""build_provider: provider type, derived attributes, hooks in Go's order (docs/compat.md §4.4, §7.7)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import tunasync.worker.providers.build as build
from tests.worker.attemptkit import make_provider
from tunasync.worker.config_models import (
    BtrfsSnapshotConfig,
    CgroupConfig,
    DockerConfig,
    GlobalConfig,
    MirrorConfig,
    WorkerConfig,
    ZfsConfig,
)
from tunasync.worker.hooks.base import JobHook
from tunasync.worker.hooks.btrfs import BtrfsSnapshotHook
from tunasync.worker.hooks.cgroup import CgroupBase, CgroupHook
from tunasync.worker.hooks.docker import DockerHook
from tunasync.worker.hooks.exec_post import ExecPostHook
from tunasync.worker.hooks.loglimit import LogLimitHook
from tunasync.worker.hooks.zfs import ZfsHook
from tunasync.worker.providers.command import CommandProvider
from tunasync.worker.providers.rsync import RsyncProvider
from tunasync.worker.providers.two_stage import TwoStageRsyncProvider


@pytest.fixture
def fake_cgroup(monkeypatch):
    base = CgroupBase(2, ("/nonexistent/tunasync",), "/nonexistent/tunasync")
    monkeypatch.setattr(build, "init_cgroup", lambda cfg: base)
    return base


def test_provider_kinds_and_attributes(tmp_path):
    p = make_provider(tmp_path, {"interval": 120, "timeout": 30}, name="AOSP", upstream="rsync://h/aosp/",
                      role="slave", retry=0)
    assert isinstance(p, RsyncProvider) and p.kind == "rsync"
    assert (p.name, p.upstream, p.working_dir) == ("AOSP", "rsync://h/aosp/", str(tmp_path / "mirrors" / "AOSP"))
    assert p.log_dir == str(tmp_path / "log" / "AOSP") and p.log_file == str(tmp_path / "log" / "AOSP" / "latest.log")
    assert p.interval == timedelta(hours=2) and p.retry == 2 and p.timeout == 30 and not p.is_master
    assert p.data_size == "" and p.config.name == "AOSP"
    assert isinstance(make_provider(tmp_path, provider="two-stage-rsync", upstream="rsync://h/d/",
                                    stage1_profile="debian"), TwoStageRsyncProvider)
    assert isinstance(make_provider(tmp_path, provider="command", command="true"), CommandProvider)
    # Go's loader takes it (its config_test.go blobs have such mirrors): the provider builds, each run fails
    assert isinstance(make_provider(tmp_path, upstream="rsync://h/no-slash"), RsyncProvider)


def test_hook_order_with_everything_enabled(tmp_path, fake_cgroup):
    sections = {"zfs": ZfsConfig(enable=True), "btrfs_snapshot": BtrfsSnapshotConfig(enable=True, snapshot_path="/s"),
                "docker": DockerConfig(enable=True), "cgroup": CgroupConfig(enable=True)}
    p = make_provider(tmp_path, {"exec_on_success": ["gs"], "exec_on_failure": ["gf1", "gf2"]}, sections,
                      provider="command", command="true", docker_image="img",
                      exec_on_success=["s1", "s2"], exec_on_success_extra=["se"], exec_on_failure_extra=["fe"])
    kinds = [type(h) for h in p.hooks]
    assert kinds[:4] == [LogLimitHook, ZfsHook, BtrfsSnapshotHook, DockerHook]
    execs = [(h.on, h.argv) for h in p.hooks[4:]]
    assert execs == [("success", ["s1"]), ("success", ["s2"]), ("success", ["se"]),
                     ("failure", ["gf1"]), ("failure", ["gf2"]), ("failure", ["fe"])]
    assert all(isinstance(h, ExecPostHook) for h in p.hooks[4:])


def test_cgroup_hook_when_no_docker_image(tmp_path, fake_cgroup):
    sections = {"docker": DockerConfig(enable=True), "cgroup": CgroupConfig(enable=True)}
    p = make_provider(tmp_path, {}, sections, provider="command", command="true", memory_limit="128M")
    assert [type(h) for h in p.hooks] == [LogLimitHook, CgroupHook]
    assert p.hooks[1].memory_limit == 128 << 20 and p.hooks[1].dirs == ["/nonexistent/tunasync/m"]


def test_archive_hook_place(tmp_path):
    class ArchiveHook(JobHook):
        pass

    cfg = WorkerConfig.model_validate({"global": GlobalConfig(log_dir=str(tmp_path / "l"), mirror_dir=str(tmp_path)),
                                       "zfs": ZfsConfig(enable=True)})
    m = MirrorConfig(name="m", provider="command", command="true", archive=True, exec_on_success=["x"])
    p = build.build_provider(m, cfg, archive_hook=ArchiveHook)
    # right after the log limiter: its post-success runs after every other hook's
    assert [type(h) for h in p.hooks] == [LogLimitHook, ArchiveHook, ZfsHook, ExecPostHook]
    m2 = MirrorConfig(name="m2", provider="command", command="true")
    assert ArchiveHook not in [type(h) for h in build.build_provider(m2, cfg, archive_hook=ArchiveHook).hooks]
