"""One job process (docs/compat.md §5.4): argv, cwd, env, log file, its own process group, Go's exit texts.

- cwd: the working dir, created 0755 if missing (errors only logged, as Go); env: the worker's
  environment without its secrets (childenv.py) with the provider's overlaid; stdin: /dev/null; stdout and stderr: the log file.
- The program is looked up on the *worker's* PATH (Go's exec.Command does that), and a missing one
  fails to start with Go's text `exec: "x": executable file not found in $PATH`, also written into
  the log so the `.fail` file says why.
- Log files are opened with O_TRUNC (quirk 25, second half: fixed). Go opens without truncation, so
  a second run within the same minute (log names have minute resolution) left the previous run's
  tail behind the new output. Two-stage rsync's stage 2 appends, as in Go.
- Own process group (quirk 36: fixed). The child starts a new session, so `terminate` signals the
  whole group: SIGTERM, up to 2 s for the child *and* its descendants to go, then SIGKILL to the
  group. Go signalled only the direct child; rsync's or a script's children then lived on.
- Hooks can adjust the spec before the start (`prepare_exec`): the cgroup hook lists `cgroup.procs`
  files that the child joins before it execs (so it never runs outside its group), the docker hook
  wraps the argv in `docker run` and stops with `docker stop`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..childenv import child_env
from ..errors import WorkerError

log = logging.getLogger(__name__)

TERM_GRACE = 2.0

# Go's signal names (syscall's linux table), as `signal: <name>` in error texts.
GO_SIGNAL_NAMES = {
    1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction", 5: "trace/breakpoint trap",
    6: "aborted", 7: "bus error", 8: "floating point exception", 9: "killed", 10: "user defined signal 1",
    11: "segmentation fault", 12: "user defined signal 2", 13: "broken pipe", 14: "alarm clock",
    15: "terminated", 16: "stack fault", 17: "child exited", 18: "continued", 19: "stopped (signal)",
    20: "stopped", 21: "stopped (tty input)", 22: "stopped (tty output)", 23: "urgent I/O condition",
    24: "CPU time limit exceeded", 25: "file size limit exceeded", 26: "virtual timer expired",
    27: "profiling timer expired", 28: "window changed", 29: "I/O possible", 30: "power failure",
    31: "bad system call",
}


class StartError(WorkerError):
    """The process could not start; str() is Go's text."""


def exit_code(returncode: int) -> int:
    """Go's ExitCode(): the status, or -1 for a death by signal."""
    return returncode if returncode >= 0 else -1


def exit_text(returncode: int) -> str:
    """Go's ProcessState.String(): `exit status N` or `signal: terminated`."""
    if returncode >= 0:
        return f"exit status {returncode}"
    sig = -returncode
    return f"signal: {GO_SIGNAL_NAMES.get(sig, f'signal {sig}')}"


def failure(returncode: int, success_codes: list[int] | tuple[int, ...] = ()) -> str | None:
    """None when the exit counts as success (0 or a listed code, docs/compat.md §4.6), else Go's error text."""
    code = exit_code(returncode)
    if code == 0 or code in success_codes:
        return None
    return exit_text(returncode)


@dataclass
class ProcessSpec:
    argv: list[str]
    log_file: str
    cwd: str | None = None  # None: the worker's cwd, nothing created (docker mode)
    env: dict[str, str] = field(default_factory=dict)  # overlay on the worker's environment
    inherit_env: bool = True
    append: bool = False
    cgroup_procs: list[str] = field(default_factory=list)  # files the child writes its pid to
    stop_argv: list[str] | None = None  # run this to stop (docker stop) instead of signalling


def _lookup(argv0: str) -> str:
    if "/" in argv0:
        return argv0
    found = shutil.which(argv0)  # the worker's PATH, like Go's exec.LookPath
    if found is None:
        raise StartError(f'exec: "{argv0}": executable file not found in $PATH')
    return found


def _join_cgroups(paths: list[bytes]) -> Callable[[], None]:
    """A preexec function: the child joins its cgroups before exec. Only raw os calls (post-fork)."""

    def join() -> None:
        pid = str(os.getpid()).encode()
        for p in paths:
            try:
                fd = os.open(p, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            except ProcessLookupError:  # ESRCH: ignored, as Go does
                pass

    return join


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the process group?"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _prepare_files(spec: ProcessSpec) -> int:
    """Create the working dir (errors only logged, as Go) and open the log file; returns its fd."""
    if spec.cwd is not None:
        try:
            os.makedirs(spec.cwd, mode=0o755, exist_ok=True)
        except OSError as exc:
            log.error("cannot create working dir %s: %s", spec.cwd, exc)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if spec.append else os.O_TRUNC)
    try:
        return os.open(spec.log_file, flags, 0o644)
    except OSError as exc:
        raise StartError(f"open {spec.log_file}: {(exc.strerror or str(exc)).lower()}") from None


class JobProcess:
    """A started job process: `wait()` for its return code, `terminate()` it and its group."""

    def __init__(self, spec: ProcessSpec):
        self.spec = spec
        self._proc: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self.returncode is None

    async def start(self) -> None:
        spec = self.spec
        env = child_env(spec.env, inherit=spec.inherit_env)
        # In a thread: on a busy disk mkdir/open take milliseconds, and the event loop runs every job.
        fd = await asyncio.to_thread(_prepare_files, spec)
        try:
            try:
                program = _lookup(spec.argv[0])
                preexec = _join_cgroups([os.fsencode(p) for p in spec.cgroup_procs]) if spec.cgroup_procs else None
                self._proc = await asyncio.create_subprocess_exec(
                    program, *spec.argv[1:], cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL,
                    stdout=fd, stderr=fd, start_new_session=True, preexec_fn=preexec,
                )
            except StartError as exc:
                os.write(fd, f"{exc}\n".encode())
                raise
            except OSError as exc:
                text = f"fork/exec {spec.argv[0]}: {(exc.strerror or str(exc)).lower()}"
                os.write(fd, f"{text}\n".encode())
                raise StartError(text) from None
        finally:
            os.close(fd)

    async def wait(self) -> int:
        assert self._proc is not None, "wait() before start()"
        self.returncode = await self._proc.wait()
        return self.returncode

    async def terminate(self, grace: float = TERM_GRACE) -> None:
        """SIGTERM the group (or run stop_argv), wait `grace`, then SIGKILL whatever is left."""
        proc = self._proc
        if proc is None or self.returncode is not None and not group_alive(proc.pid):
            return
        if self.spec.stop_argv:
            await _run_quiet(self.spec.stop_argv)
        else:
            _killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc.returncode is not None and not group_alive(proc.pid):
                break
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), 0.05)
            except TimeoutError:
                pass
        else:
            log.warning("SIGTERM failed to kill the job in %gs. SIGKILL sent", grace)
            _killpg(proc.pid, signal.SIGKILL)
            # SIGKILL is delivered asynchronously: let the group actually go before we report back.
            for _ in range(500):  # at most ~5 s
                if not group_alive(proc.pid):
                    break
                await asyncio.sleep(0.01)
        self.returncode = await proc.wait()


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


async def _run_quiet(argv: list[str]) -> int:
    try:
        p = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env()
        )
    except OSError as exc:
        log.warning("cannot run %s: %s", argv[0], exc)
        return -1
    return await p.wait()
