"""Test-only helpers for the job runtime tests: a Provider that runs a real `sh -c` script, a hook
that records the hook points it sees, and a message sink. Used by test_job*.py and test_worker*.py."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from tests.ports import free_port  # noqa: F401 (re-exported)
from tunasync.worker.hooks.base import HookError, JobHook
from tunasync.worker.job import JobMessage
from tunasync.worker.providers.base import Provider, ProviderError


class ShProvider(Provider):
    """Runs `sh -c script` in its own process group; output goes to the log file."""

    kind = "command"

    def __init__(self, name: str, script: str, tmp: str, *, retry: int = 2, timeout: float = 0,
                 interval: float = 3600, size: str = ""):
        os.makedirs(os.path.join(tmp, "log"), exist_ok=True)
        super().__init__(name=name, upstream=f"sh://{name}/", working_dir=tmp,
                         log_dir=os.path.join(tmp, "log"), log_file=os.path.join(tmp, "log", f"{name}.log"),
                         interval=timedelta(seconds=interval), retry=retry, timeout=timeout)
        self.script = script
        self.proc: asyncio.subprocess.Process | None = None
        self.size_on_success = size
        self.runs = 0

    async def run(self, started) -> None:
        self.runs += 1
        with open(self.log_file, "ab") as out:  # noqa: ASYNC230 (tiny test helper)
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    "sh", "-c", self.script, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                    cwd=self.working_dir, start_new_session=True)
            except OSError as exc:
                raise ProviderError(str(exc)) from exc
        started()
        code = await self.proc.wait()
        if code < 0:
            raise ProviderError(f"signal: {signal.Signals(-code).name[3:].lower()}")
        if code != 0:
            raise ProviderError(f"exit status {code}")
        self.data_size = self.size_on_success

    async def terminate(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 2)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


class MissingBinaryProvider(ShProvider):
    """Fails before starting, as exec of a missing binary does."""

    async def run(self, started) -> None:
        raise ProviderError('exec: "no-such-binary": executable file not found in $PATH')


class RecordingHook(JobHook):
    """Records `<point>` into a shared list; fails at the points listed in `fail_at`."""

    def __init__(self, provider: Provider, record: list[str], tag: str = "", fail_at: tuple[str, ...] = ()):
        super().__init__(provider)
        self.record, self.tag, self.fail_at = record, tag, fail_at

    async def _hit(self, point: str) -> None:
        self.record.append(f"{self.tag}{point}")
        if point in self.fail_at:
            raise HookError("exit status 3")

    async def pre_job(self) -> None:
        await self._hit("pre_job")

    async def pre_exec(self) -> None:
        await self._hit("pre_exec")

    async def post_exec(self) -> None:
        await self._hit("post_exec")

    async def post_success(self) -> None:
        await self._hit("post_success")

    async def post_fail(self) -> None:
        await self._hit("post_fail")


class Sink:
    """Collects job messages; `wait_for(n)` waits (with a generous timeout) until n have arrived."""

    def __init__(self) -> None:
        self.messages: list[JobMessage] = []
        self._changed = asyncio.Event()

    async def __call__(self, msg: JobMessage) -> None:
        self.messages.append(msg)
        self._changed.set()

    async def wait_for(self, n: int, within: float = 20) -> list[JobMessage]:
        async with asyncio.timeout(within):
            while len(self.messages) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.messages

    def statuses(self) -> list[str]:
        return [m.status.value for m in self.messages]


# -- worker-level helpers ------------------------------------------------------------------------------



def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_worker_conf(path, *, name="dut", port=6000, api_base="http://127.0.0.1:14242", tmp=None,
                      mirrors=(), concurrent=3, interval=60, token="", extra="") -> str:
    """A worker TOML config; mirrors are dicts of [[mirrors]] keys."""
    tmp = tmp or os.path.dirname(str(path))
    lines = [
        "[global]", f'name = "{name}"', f'log_dir = "{tmp}/log/{{{{.Name}}}}"', f'mirror_dir = "{tmp}/data"',
        f"concurrent = {concurrent}", f"interval = {interval}", "",
        "[manager]", f'api_base = "{api_base}"', *([f'token = "{token}"'] if token else []), "",
        "[server]", 'hostname = "127.0.0.1"', 'listen_addr = "127.0.0.1"', f"listen_port = {port}", "",
    ]
    for m in mirrors:
        lines.append("[[mirrors]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in m.items()]
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines) + extra)
    return str(path)


def sh_build(mirror, cfg) -> ShProvider:
    """Stand-in for build_provider until it is used: a `command` mirror as an ShProvider."""
    d = os.path.join(cfg.global_.mirror_dir, mirror.name)
    os.makedirs(d, exist_ok=True)
    p = ShProvider(mirror.name, mirror.command, d, retry=mirror.retry or cfg.global_.retry or 2,
                   timeout=mirror.timeout or cfg.global_.timeout,
                   interval=60 * (mirror.interval or cfg.global_.interval))
    p.upstream = mirror.upstream
    p.config = mirror
    return p


async def start_manager(tmp, port, **cfg):
    """The real manager (SQLite) in this process on 127.0.0.1:port; returns (runner, db, base_url)."""
    from tunasync.manager.config import ManagerConfig
    from tunasync.manager.db import open_database
    from tunasync.manager.server import create_app, start

    config = ManagerConfig.model_validate({"server": {"addr": "127.0.0.1", "port": port}, **cfg})
    db = await open_database("sqlite", os.path.join(str(tmp), "manager.sqlite"))
    runner = await start(create_app(config, db), config)
    return runner, db, f"http://127.0.0.1:{port}"
