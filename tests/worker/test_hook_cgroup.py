"""The cgroup hook (docs/compat.md §7.5): real cgroup v1 memory groups on this host, cgroup v2 for real where a
cgroup2 hierarchy is writable (without the memory controller here) and a stand-in directory tree for
the v2 memory files."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.worker.attemptkit import attempt, file_text, make_provider, poll
from tests.worker.test_runner import alive
from tunasync.errors import ConfigError
from tunasync.worker.config_models import CgroupConfig
from tunasync.worker.hooks.cgroup import CgroupHook, detect_version, init_cgroup
from tunasync.worker.runner import ProcessSpec

V1_MEMORY = Path("/sys/fs/cgroup/memory")
V2_HYBRID = Path("/sys/fs/cgroup/unified")


def _writable_cgroup(path: Path) -> bool:
    if not (path / "cgroup.procs").exists():
        return False
    probe = path / f"tunasync-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


@pytest.fixture
def v1_group():
    if not _writable_cgroup(V1_MEMORY):
        pytest.skip("no writable cgroup v1 memory hierarchy at /sys/fs/cgroup/memory (needs root)")
    name = f"tunasync-test-{uuid.uuid4().hex[:10]}"
    (V1_MEMORY / name).mkdir()
    yield name
    for d in sorted((V1_MEMORY / name).glob("*/"), reverse=True):
        if d.is_dir():
            d.rmdir()
    (V1_MEMORY / name).rmdir()


DAEMONIZE = ("sh -c 'cat /proc/self/cgroup > {out}; cat {limit} >> {out}; "
             "setsid sh -c \"echo \\$\\$ > {gc}; exec sleep 1000\" & "
             "while [ ! -s {gc} ]; do sleep 0.05; done'")


async def test_v1_group_memory_limit_and_kill_at_post_exec(tmp_path, v1_group):
    out, gc = tmp_path / "out", tmp_path / "gc.pid"
    job_dir = V1_MEMORY / v1_group / "m"
    cmd = DAEMONIZE.format(out=out, gc=gc, limit=job_dir / "memory.limit_in_bytes")
    p = make_provider(tmp_path, {}, {"cgroup": CgroupConfig(enable=True, group=v1_group)},
                      provider="command", command=cmd, memory_limit="512M")
    hook = next(h for h in p.hooks if isinstance(h, CgroupHook))
    assert hook.base.version == 1 and hook.base.dirs == (str(V1_MEMORY / v1_group),)
    await hook.pre_exec()
    assert (job_dir / "memory.limit_in_bytes").read_text().strip() == "536870912"
    await hook.post_exec()
    assert not job_dir.exists()

    assert await attempt(p) is None
    lines = out.read_text().splitlines()
    assert any(line.endswith(f":memory:/{v1_group}/m") for line in lines)  # joined before exec
    assert lines[-1] == "536870912"
    grandchild = int(gc.read_text())
    # It left the process group (setsid), so only the cgroup can find it: gone after post-exec.
    await poll(lambda: not alive(grandchild), limit=5)
    assert not job_dir.exists()


def test_v1_manual_group_must_be_empty(v1_group):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (V1_MEMORY / v1_group / "cgroup.procs").write_text(str(sleeper.pid))
        with pytest.raises(ConfigError, match=f"There are remaining processes in cgroup /{v1_group}"):
            init_cgroup(CgroupConfig(enable=True, group=f"/{v1_group}"), version=1)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_v1_unknown_group(tmp_path):
    if not V1_MEMORY.is_dir():
        pytest.skip("no cgroup v1 hierarchy")
    with pytest.raises(ConfigError, match="no cgroup v1 controller"):
        init_cgroup(CgroupConfig(enable=True, group="no-such-group-" + uuid.uuid4().hex), version=1)


@pytest.fixture
def v2_group():
    mounted = any(line.split()[4] == str(V2_HYBRID) and " - cgroup2 " in line
                  for line in open("/proc/self/mountinfo"))
    if not mounted or not _writable_cgroup(V2_HYBRID):
        pytest.skip(f"no writable cgroup2 hierarchy at {V2_HYBRID}")
    name = f"tunasync-test-{uuid.uuid4().hex[:10]}"
    (V2_HYBRID / name).mkdir()
    yield name
    for d in (V2_HYBRID / name).iterdir():
        if d.is_dir():
            d.rmdir()
    (V2_HYBRID / name).rmdir()


async def test_v2_real_placement_and_kill(tmp_path, v2_group):
    """cgroup2 without the memory controller (this host's hybrid mount): placement and the kill."""
    base = init_cgroup(CgroupConfig(enable=True, group=v2_group), root=str(V2_HYBRID), version=2)
    out, gc = tmp_path / "out", tmp_path / "gc.pid"
    p = make_provider(tmp_path, provider="command", command=DAEMONIZE.format(out=out, gc=gc, limit="/dev/null"))
    p.hooks.append(CgroupHook(p, base))
    assert await attempt(p) is None
    assert f"0::/{v2_group}/m" in out.read_text().splitlines()
    grandchild = int(file_text(gc))
    await poll(lambda: not alive(grandchild), limit=5)
    assert not (V2_HYBRID / v2_group / "m").exists()


async def test_v2_memory_files_on_a_stand_in_tree(tmp_path):
    """The v2 memory files, on a plain directory shaped like a cgroup2 tree (no v2 memory controller here)."""
    root = tmp_path / "cg"
    base = root / "tunasync"
    base.mkdir(parents=True)
    (base / "cgroup.procs").write_text("")
    (base / "cgroup.subtree_control").write_text("")
    cg = init_cgroup(CgroupConfig(enable=True, group="tunasync"), root=str(root), version=2)
    assert cg.dirs == (str(base),) and cg.memory_dir == str(base)
    p = make_provider(tmp_path, provider="command", command="true")
    hook = CgroupHook(p, cg, memory_limit=512 << 20)
    await hook.pre_exec()
    assert (base / "cgroup.subtree_control").read_text() == "+memory"
    assert (base / "m" / "memory.max").read_text() == "536870912"
    spec = ProcessSpec(["true"], str(tmp_path / "log"))
    hook.prepare_exec(spec)
    assert spec.cgroup_procs == [str(base / "m" / "cgroup.procs")]


def test_v2_implicit_mode_on_a_stand_in_tree(tmp_path):
    root = tmp_path / "cg"
    own = root / "system.slice" / "tunasync.service"
    own.mkdir(parents=True)
    (own / "cgroup.procs").write_text("")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/system.slice/tunasync.service\n")
    cg = init_cgroup(CgroupConfig(enable=True), root=str(root), version=2, self_cgroup=str(self_cgroup))
    assert cg.dirs == (str(own),)
    assert (own / "__worker").is_dir()  # the worker's processes move there; jobs go beside it


def test_v1_implicit_mode_on_a_stand_in_tree(tmp_path):
    """Implicit v1 mode, on plain directories: controllers whose path is `/` are not ours."""
    root = tmp_path / "cg"
    own = root / "memory" / "job.slice"
    own.mkdir(parents=True)
    (own / "cgroup.procs").write_text("")
    (own / "memory.limit_in_bytes").write_text("9223372036854771712")
    (root / "cpu").mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        f"35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory\n"
        f"32 31 0:29 / {root}/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        f"41 31 0:38 / {root}/unified rw,relatime - cgroup2 cgroup2 rw\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("4:memory:/job.slice\n1:cpu:/\n0::/\n")
    cg = init_cgroup(CgroupConfig(enable=True), root=str(root), version=1, mountinfo=str(mountinfo),
                     self_cgroup=str(self_cgroup))
    assert cg.version == 1 and cg.dirs == (str(own),) and cg.memory_dir == str(own)
    assert (own / "__worker").is_dir()


def test_version_detection(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    assert detect_version(mountinfo=str(info)) == 1  # hybrid: v2 only at unified/, as Go decides
    info.write_text("31 23 0:28 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
    assert detect_version(mountinfo=str(info)) == 2
