"""The log limiter (docs/compat.md §7.1): one time-stamped log file per attempt, the 10 newest kept, `latest`.

pre-exec: create the log dir, delete this mirror's old logs beyond the 9 newest, name the new file
`<name>_YYYY-MM-DD_HH_MM.log` (local time), point the relative symlink `latest` at it, and push a
context layer holding it as `log_file`. post-success pops the layer; post-fail renames the file to
`<file>.fail`, points `latest` there and pops.

Quirk 25, first half (fixed): Go deleted every entry whose name merely *starts with* the mirror
name, so in a shared log dir mirror `debian` deleted the logs of `debian-cd`. Only this mirror's own
names (`<name>_YYYY-MM-DD_HH_MM.log` and `.log.fail`) are counted and deleted here. `latest` stays
shared in such a dir, as in Go (it lives in the log dir, not per mirror).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from .base import HookError, JobHook

if TYPE_CHECKING:
    from ..providers.base import Provider

KEEP = 10


def log_name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"_\d{4}-\d{2}-\d{2}_\d{2}_\d{2}\.log(?:\.fail)?")


def point_latest(log_dir: str, target_name: str) -> None:
    """Atomically make `<log_dir>/latest` a relative symlink to `target_name`."""
    link = os.path.join(log_dir, "latest")
    tmp = os.path.join(log_dir, f".latest.{os.getpid()}")
    try:
        os.remove(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target_name, tmp)
    os.replace(tmp, link)


class LogLimitHook(JobHook):
    def __init__(self, provider: Provider, keep: int = KEEP, now: Callable[[], datetime] = datetime.now):
        super().__init__(provider)
        self.keep = keep
        self.now = now
        self._pattern = log_name_pattern(provider.name)

    def _prune(self, log_dir: str) -> None:
        try:
            names = os.listdir(log_dir)
        except FileNotFoundError:
            os.makedirs(log_dir, mode=0o755, exist_ok=True)
            return
        mine = []
        for name in names:
            if self._pattern.fullmatch(name):
                try:
                    mine.append((os.lstat(os.path.join(log_dir, name)).st_mtime_ns, name))
                except FileNotFoundError:
                    continue
        mine.sort(reverse=True)
        for _, name in mine[self.keep - 1 :]:
            try:
                os.remove(os.path.join(log_dir, name))
            except FileNotFoundError:
                pass

    def _prepare(self, log_dir: str, name: str) -> None:
        self._prune(log_dir)
        point_latest(log_dir, name)

    async def pre_exec(self) -> None:
        p = self.provider
        if p.log_file == "/dev/null":
            return
        log_dir = p.log_dir
        name = f"{p.name}_{self.now().strftime('%Y-%m-%d_%H_%M')}.log"
        try:
            # In a thread: directory operations can take milliseconds, and the event loop runs every job.
            await asyncio.to_thread(self._prepare, log_dir, name)
        except OSError as exc:
            raise HookError(f"log dir {log_dir}: {exc.strerror or exc}") from None
        p.context.enter()
        p.context.set("log_file", os.path.join(log_dir, name))

    def _pop(self) -> None:
        if self.provider.context.depth > 1:
            self.provider.context.exit()

    async def post_success(self) -> None:
        if self.provider.log_file == "/dev/null":
            return
        self._pop()

    async def post_fail(self) -> None:
        p = self.provider
        log_file = p.log_file
        if log_file == "/dev/null":
            return
        failed = log_file + ".fail"
        try:
            os.replace(log_file, failed)
        except FileNotFoundError:  # never started: leave an (empty) .fail all the same
            os.close(os.open(failed, os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError:
            pass
        try:
            point_latest(p.log_dir, os.path.basename(failed))
        except OSError:
            pass  # errors here are ignored by Go too
        self._pop()
