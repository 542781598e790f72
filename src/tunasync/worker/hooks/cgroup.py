"""The cgroup hook (docs/compat.md §7.5), cgroup v1 and v2, through the cgroupfs files themselves.

Worker start (`init_cgroup`): v2 when /sys/fs/cgroup is a cgroup2 mount, else v1.
- Implicit mode (`group = ""`): the base is the worker's own cgroup. A child `__worker` receives
  every process of the base (repeated until none is left), so the base can hold job groups. In v1
  this is done per controller, skipping controllers whose path is `/` (not delegated to us).
- Manual mode (`group = "/tunasync"`): the base is that group; a child `__test` must be creatable and
  removable and the base must hold no process (`There are remaining processes in cgroup ...`).
Per job: pre-exec creates `<base>/<mirror>` (v1: in every controller of the base) and writes the
memory limit (v2 `memory.max`, after enabling `+memory` in the base's subtree_control; v1
`memory.limit_in_bytes`). The process joins the group between fork and exec (runner.py). post-exec
SIGKILLs everything left in the group (3 rounds: 10 ms, 1.01 s, 2.01 s apart; leftovers are only
logged) and removes the group; a removal error fails the hook, as in Go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...errors import ConfigError
from ..config_models import CgroupConfig
from .base import HookError, JobHook

if TYPE_CHECKING:
    from ..providers.base import Provider
    from ..runner import ProcessSpec

log = logging.getLogger(__name__)

ROOT = "/sys/fs/cgroup"
_KILL_SLEEPS = (0.01, 1.01, 2.01)


@dataclass(frozen=True)
class CgroupBase:
    """Where job groups are created: one dir per v1 controller, or the single v2 dir."""

    version: int
    dirs: tuple[str, ...]
    memory_dir: str | None  # where limits are written (None: no memory controller)


def _mountinfo(path: str = "/proc/self/mountinfo") -> list[tuple[str, str, str, set[str]]]:
    """(mount root, mount point, fstype, super options) of every mount."""
    out = []
    with open(path) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) >= 5 and len(rest) >= 3:
                out.append((fields[3], fields[4], rest[0], set(rest[2].split(","))))
    return out


def detect_version(root: str = ROOT, mountinfo: str = "/proc/self/mountinfo") -> int:
    for _, point, fstype, _ in _mountinfo(mountinfo):
        if point == root and fstype == "cgroup2":
            return 2
    return 1


def read_procs(cg_dir: str) -> list[int]:
    with open(os.path.join(cg_dir, "cgroup.procs")) as f:
        return [int(x) for x in f.read().split()]


def add_proc(cg_dir: str, pid: int) -> None:
    try:
        with open(os.path.join(cg_dir, "cgroup.procs"), "w") as f:
            f.write(str(pid))
    except ProcessLookupError:  # ESRCH: the process vanished meanwhile; ignored as in Go
        pass


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _move_all(src: str, dst: str) -> None:
    """Move every process of `src` into `dst`, until `src` is empty (new ones may appear)."""
    os.makedirs(dst, exist_ok=True)
    for _ in range(1000):
        procs = read_procs(src)
        if not procs:
            return
        for pid in procs:
            add_proc(dst, pid)
    raise ConfigError(None, "cgroup", f"cannot empty {src}: processes keep appearing")


def _check_manual(base: str, group: str) -> None:
    test = os.path.join(base, "__test")
    try:
        os.makedirs(test, exist_ok=True)
        os.rmdir(test)
    except OSError as exc:
        raise ConfigError(None, "cgroup.group", f"cannot create a sub group in {base}: {exc.strerror or exc}") from None
    if read_procs(base):
        raise ConfigError(None, "cgroup.group", f"There are remaining processes in cgroup {group}")


def _v1_bases(group: str, root: str, mountinfo: str, self_cgroup: str) -> dict[str, str]:
    """controller mount point -> base dir, for the controllers we may use."""
    mounts = [(mroot, point, opts) for mroot, point, fstype, opts in _mountinfo(mountinfo)
              if fstype == "cgroup" and (point == root or point.startswith(root.rstrip("/") + "/"))]
    bases: dict[str, str] = {}
    if group:
        for _, point, _ in mounts:
            if os.path.isdir(point + group):
                bases[point] = point + group
        return bases
    with open(self_cgroup) as f:
        for line in f:
            hid, controllers, path = line.rstrip("\n").split(":", 2)
            if hid == "0" or path == "/":
                continue
            wanted = set(controllers.split(","))
            for mroot, point, opts in mounts:
                if wanted <= opts:
                    rel = path[len(mroot):] if mroot != "/" and path.startswith(mroot) else path
                    bases[point] = point + rel
    return bases


_cache: dict[tuple[str, str, int], CgroupBase] = {}


def init_cgroup(cfg: CgroupConfig, root: str = ROOT, version: int | None = None,
                mountinfo: str = "/proc/self/mountinfo", self_cgroup: str = "/proc/self/cgroup") -> CgroupBase:
    """Prepare the base group once per process (worker start); ConfigError when it cannot be used."""
    group = "/" + cfg.group.strip("/") if cfg.group else ""
    version = version or detect_version(root, mountinfo)
    key = (group, root, version)
    if key in _cache:
        return _cache[key]
    try:
        if version == 2:
            base = root + group if group else _v2_own(root, self_cgroup)
            if group:
                _check_manual(base, group)
            else:
                _move_all(base, os.path.join(base, "__worker"))
            result = CgroupBase(2, (base,), base)
        else:
            bases = _v1_bases(group, root, mountinfo, self_cgroup)
            if not bases:
                where = f"group {group}" if group else "the worker's own cgroup (every controller is at /)"
                raise ConfigError(None, "cgroup.group", f"no cgroup v1 controller offers {where}")
            for base in bases.values():
                if group:
                    _check_manual(base, group)
                else:
                    _move_all(base, os.path.join(base, "__worker"))
            memory = next((b for p, b in bases.items() if os.path.exists(os.path.join(b, "memory.limit_in_bytes"))), None)
            result = CgroupBase(1, tuple(bases.values()), memory)
    except OSError as exc:
        raise ConfigError(None, "cgroup", f"cgroup setup failed: {exc}") from None
    _cache[key] = result
    return result


def _v2_own(root: str, self_cgroup: str) -> str:
    with open(self_cgroup) as f:
        for line in f:
            if line.startswith("0::"):
                return root + line[3:].strip().rstrip("/")
    raise ConfigError(None, "cgroup", "no cgroup v2 entry in /proc/self/cgroup")


class CgroupHook(JobHook):
    def __init__(self, provider: Provider, base: CgroupBase, memory_limit: int = 0):
        super().__init__(provider)
        self.base = base
        self.memory_limit = memory_limit
        self.dirs = [os.path.join(d, provider.name) for d in base.dirs]

    async def pre_exec(self) -> None:
        try:
            if self.memory_limit and self.base.version == 2 and self.base.memory_dir:
                _write(os.path.join(self.base.memory_dir, "cgroup.subtree_control"), "+memory")
            for d in self.dirs:
                os.makedirs(d, exist_ok=True)
            if self.memory_limit and self.base.memory_dir:
                mem = os.path.join(self.base.memory_dir, self.provider.name)
                limit_file = "memory.max" if self.base.version == 2 else "memory.limit_in_bytes"
                _write(os.path.join(mem, limit_file), str(self.memory_limit))
        except OSError as exc:
            raise HookError(f"cgroup {self.provider.name}: {exc}") from None

    def prepare_exec(self, spec: ProcessSpec) -> None:
        spec.cgroup_procs = [os.path.join(d, "cgroup.procs") for d in self.dirs]

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for d in self.dirs:
            try:
                pids.update(read_procs(d))
            except FileNotFoundError:
                continue
        return sorted(pids)

    async def post_exec(self) -> None:
        for i, pause in enumerate((*_KILL_SLEEPS, None)):
            pids = self.procs()
            if not pids:
                break
            if pause is None:
                log.warning("Unable to kill all child tasks of %s: %s", self.provider.name, pids)
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            log.debug("cgroup %s: killed %d process(es), round %d", self.provider.name, len(pids), i + 1)
            await asyncio.sleep(pause)
        for d in self.dirs:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise HookError(f"cannot delete cgroup {d}: {exc.strerror or exc}") from None
