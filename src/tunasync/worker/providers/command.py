"""The command provider (docs/compat.md §6.2): any program, TUNASYNC_* env, fail_on_match, size_pattern."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ...providerkind import ProviderKind
from ..config_resolve import ResolvedMirror
from ..runner import failure
from .base import ProviderError
from .process import (
    ARCHIVE_COMPARE_DEST_ENV,
    ARCHIVE_COMPARE_DEST_KEY,
    ARCHIVE_EXCLUDE_ENV,
    ARCHIVE_EXCLUDE_KEY,
    ProcessProvider,
    last_group,
    read_log,
)


class CommandProvider(ProcessProvider):
    kind = ProviderKind.COMMAND

    def __init__(self, resolved: ResolvedMirror):
        super().__init__(resolved)
        self.argv = list(resolved.command_argv)
        self.fail_on_match = resolved.fail_on_match
        self.size_pattern = resolved.size_pattern

    def process_env(self) -> dict[str, str]:
        env = {
            "TUNASYNC_MIRROR_NAME": self.name,
            "TUNASYNC_WORKING_DIR": self.working_dir,
            "TUNASYNC_UPSTREAM_URL": self.upstream,
            "TUNASYNC_LOG_DIR": self.log_dir,
            "TUNASYNC_LOG_FILE": self.log_file,
        }
        exclude = self.context.get(ARCHIVE_EXCLUDE_KEY)
        if exclude:
            env[ARCHIVE_EXCLUDE_ENV] = exclude
        shadow = self.context.get(ARCHIVE_COMPARE_DEST_KEY)
        if shadow:  # a script's rsync adds `--compare-dest "$TUNASYNC_ARCHIVE_COMPARE_DEST" --no-perms`
            env[ARCHIVE_COMPARE_DEST_ENV] = shadow
        return {**env, **self.env}  # the mirror env may override the TUNASYNC_* keys, as in Go

    async def run(self, started: Callable[[], None]) -> None:
        self._reset()
        self.data_size = ""
        if not self.argv:
            raise ProviderError("empty command")
        rc = await self._exec(self.argv, started)
        text = failure(rc, self.success_codes)
        if text is not None:
            raise ProviderError(text)
        if self.fail_on_match is None and self.size_pattern is None:
            return
        if self.log_file == "/dev/null":
            if self.fail_on_match is not None:
                raise ProviderError("invalid log file")
            return
        content = await asyncio.to_thread(read_log, self.log_file)
        if self.fail_on_match is not None and content:
            count = sum(1 for _ in self.fail_on_match.finditer(content))
            if count:
                raise ProviderError(f"Fail-on-match regexp found {count} matches")
        if self.size_pattern is not None:
            self.data_size = last_group(self.size_pattern, content or "")
