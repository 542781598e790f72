"""exec_on_success / exec_on_failure commands (docs/compat.md §7.6).

A success hook runs in post-success, a failure hook in post-fail (after every failed attempt). The
command runs with the worker's environment (without its secrets, childenv.py) plus TUNASYNC_MIRROR_NAME, _WORKING_DIR, _UPSTREAM_URL,
_LOG_DIR, _LOG_FILE (the time-stamped log, not yet renamed `.fail`) and TUNASYNC_JOB_EXIT_STATUS
(`success` / `failure`), in the worker's cwd, with empty stdin, writing to the worker's stdout and
stderr. A non-zero exit fails the hook with `exit status N`. Quirk 26 (kept): no mirror env, output
not in the job log, and hooks walked backwards so later commands run first, as Go configs expect.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import TYPE_CHECKING, Literal

from ...childenv import child_env
from ..runner import exit_text
from .base import HookError, JobHook

if TYPE_CHECKING:
    from ..providers.base import Provider


class ExecPostHook(JobHook):
    def __init__(self, provider: Provider, on: Literal["success", "failure"], argv: list[str]):
        super().__init__(provider)
        self.on = on
        self.argv = list(argv)

    def env(self) -> dict[str, str]:
        p = self.provider
        return {
            **child_env(),
            "TUNASYNC_MIRROR_NAME": p.name,
            "TUNASYNC_WORKING_DIR": p.working_dir,
            "TUNASYNC_UPSTREAM_URL": p.upstream,
            "TUNASYNC_LOG_DIR": p.log_dir,
            "TUNASYNC_LOG_FILE": p.log_file,
            "TUNASYNC_JOB_EXIT_STATUS": self.on,
        }

    async def _run(self) -> None:
        if not self.argv:
            raise HookError("Invalid Command")
        try:
            proc = await asyncio.create_subprocess_exec(*self.argv, env=self.env(), stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise HookError(f'exec: "{self.argv[0]}": executable file not found in $PATH') from None
        except OSError as exc:
            raise HookError(f"fork/exec {self.argv[0]}: {(exc.strerror or str(exc)).lower()}") from None
        rc = await proc.wait()
        if rc != 0:
            raise HookError(exit_text(rc))

    async def post_success(self) -> None:
        if self.on == "success":
            await self._run()

    async def post_fail(self) -> None:
        if self.on == "failure":
            await self._run()
