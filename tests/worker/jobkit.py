"""Test-only helpers for the job runtime tests: a Provider that runs a real `sh -c` script, a hook
that records the hook points it sees, and a message sink. Used by test_job*.py and test_worker*.py."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

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
