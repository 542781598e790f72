"""What the three providers share: building a process for the attempt and stopping it.

Hooks that change how the process runs implement `prepare_exec(spec)` (cgroup: join the job group
before exec; docker: wrap the argv in `docker run`); the provider offers them the spec in hook order.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from ..config_resolve import ResolvedMirror
from ..runner import JobProcess, ProcessSpec, StartError
from .base import Provider, ProviderError

log = logging.getLogger(__name__)

# Context keys the archive tier sets before a sync (docs/archive.md: rsync never fetches an evicted file again;
# archive/shadow.py): a small rsync rules file (`--exclude-from`), and the shadow tree of evicted
# placeholders (`--compare-dest`). Command providers get them in these env vars.
ARCHIVE_EXCLUDE_KEY = "archive_exclude_from"
ARCHIVE_EXCLUDE_ENV = "TUNASYNC_ARCHIVE_EXCLUDE"
ARCHIVE_COMPARE_DEST_KEY = "archive_compare_dest"
ARCHIVE_COMPARE_DEST_ENV = "TUNASYNC_ARCHIVE_COMPARE_DEST"


class ProcessProvider(Provider):
    def __init__(self, resolved: ResolvedMirror, env: dict[str, str] | None = None):
        super().__init__(
            name=resolved.name, upstream=resolved.upstream, working_dir=resolved.working_dir,
            log_dir=resolved.log_dir, log_file=resolved.log_file, interval=resolved.interval,
            retry=resolved.retry, timeout=resolved.timeout, is_master=resolved.is_master,
            env=env if env is not None else resolved.config.env, config=resolved.config,
        )
        self.resolved = resolved
        self.success_codes = list(resolved.success_codes)
        self._proc: JobProcess | None = None
        self._terminated = False

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.is_running()

    async def terminate(self) -> None:
        self._terminated = True
        proc = self._proc
        if proc is not None:
            await proc.terminate()

    def process_env(self) -> dict[str, str]:
        """The environment overlay of the process (the provider's env)."""
        return dict(self.env)

    async def _exec(self, argv: list[str], started: Callable[[], None] | None, append: bool = False) -> int:
        """Run one process to its end and return its return code; ProviderError if it cannot start."""
        if self._terminated:
            raise ProviderError("signal: terminated")
        spec = ProcessSpec(argv=list(argv), log_file=self.log_file, cwd=self.working_dir,
                           env=self.process_env(), append=append)
        for hook in self.hooks:
            prepare = getattr(hook, "prepare_exec", None)
            if prepare is not None:
                prepare(spec)
        proc = JobProcess(spec)
        try:
            await proc.start()
        except StartError as exc:
            raise ProviderError(str(exc)) from None
        self._proc = proc
        if started is not None:
            started()
        try:
            return await proc.wait()
        except asyncio.CancelledError:
            await proc.terminate()
            raise

    def _reset(self) -> None:
        self._terminated = False
        self._proc = None


def last_group(pattern: re.Pattern[str], text: str) -> str:
    """First capture group of the last match of `pattern` in `text`, "" when none."""
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - we want the last one
        pass
    return last.group(1) if last is not None and last.group(1) is not None else ""


def read_log(path: str) -> str | None:
    """The whole log file, or None when unreadable (counts as empty, as Go does)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None
