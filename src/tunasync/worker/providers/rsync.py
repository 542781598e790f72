"""The rsync provider (spec §6.1): argv in Go's exact order, USER/RSYNC_PASSWORD, size from --stats.

On a failed rsync the log gets Go's `rsync error: <meaning>` line (quirk 30), and the error text is
Go's `exit status 23` followed by the meaning, `exit status 23: Partial transfer due to error`, so
`tunasynctl list` shows why while scripts matching Go's prefix still match (quirk 30: fixed).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from ...providerkind import ProviderKind
from ..config_models import WorkerConfig
from ..config_resolve import ResolvedMirror
from ..rsync_errors import explain, log_line
from ..runner import exit_code, failure
from .base import ProviderError
from .process import ARCHIVE_EXCLUDE_KEY, ProcessProvider, read_log

BASE_OPTIONS = [
    "-aHvh", "--no-o", "--no-g", "--stats", "--filter", "risk .~tmp~/", "--exclude", ".~tmp~/",
    "--delete", "--delete-after", "--delay-updates", "--safe-links",
]
TOTAL_SIZE = re.compile(r"^Total file size: ([0-9\.]+[KMGTP]?) bytes", re.MULTILINE)


def rsync_env(resolved: ResolvedMirror) -> dict[str, str]:
    """Mirror env plus USER/RSYNC_PASSWORD; a copy, the config is never mutated (quirk 23: fixed)."""
    m = resolved.config
    env = dict(m.env)
    if m.username:
        env["USER"] = m.username
    if m.password:
        env["RSYNC_PASSWORD"] = m.password
    return env


def ip_options(resolved: ResolvedMirror) -> list[str]:
    m = resolved.config
    return ["-6"] if m.use_ipv6 else ["-4"] if m.use_ipv4 else []


def timeout_options(resolved: ResolvedMirror) -> list[str]:
    m = resolved.config
    return [] if m.rsync_no_timeout else [f"--timeout={m.rsync_timeout or 120}"]


def rsync_options(resolved: ResolvedMirror, cfg: WorkerConfig) -> list[str]:
    m = resolved.config
    options = list(m.rsync_override) if m.rsync_override else list(BASE_OPTIONS)
    if m.rsync_override_only:
        return options
    options += timeout_options(resolved) + ip_options(resolved)
    if m.exclude_file:
        options += ["--exclude-from", m.exclude_file]
    return options + list(cfg.global_.rsync_options) + list(m.rsync_options)


def parse_total_size(log_text: str | None) -> str:
    """`1.33T` from the last `Total file size: 1.33T bytes` line, "" when there is none."""
    matches = TOTAL_SIZE.findall(log_text or "")
    return matches[-1] if matches else ""


class RsyncFailure(ProviderError):
    pass


class RsyncBase(ProcessProvider):
    """Running one rsync process and turning its exit into Go's texts."""

    def check_upstream(self) -> None:
        """Go refuses an upstream without a trailing `/` (it would sync into a subdirectory); it panics at
        start, we fail each run of this mirror only."""
        if not self.upstream.endswith("/"):
            raise ProviderError("rsync upstream URL should ends with /")

    def archive_excludes(self) -> list[str]:
        # Marked place for the archive tier: evicted paths rsync must not fetch again.
        path = self.context.get(ARCHIVE_EXCLUDE_KEY)
        return ["--exclude-from", path] if path else []

    async def _rsync(self, options: list[str], started: Callable[[], None] | None, append: bool = False) -> None:
        argv = [self.resolved.rsync_cmd, *options, *self.archive_excludes(), self.upstream, self.working_dir]
        rc = await self._exec(argv, started, append=append)
        text = failure(rc, self.success_codes)
        if text is None:
            return
        code = exit_code(rc)
        if code != 0:
            await asyncio.to_thread(_append_line, self.log_file, log_line(code))
        meaning = explain(code) if rc > 0 else ""
        raise RsyncFailure(f"{text}: {meaning}" if meaning else text)

    async def _size(self) -> str:
        if self.log_file == "/dev/null":
            return ""
        return parse_total_size(await asyncio.to_thread(read_log, self.log_file))


def _append_line(path: str, line: str) -> None:
    if path == "/dev/null":
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass


class RsyncProvider(RsyncBase):
    kind = ProviderKind.RSYNC

    def __init__(self, resolved: ResolvedMirror, cfg: WorkerConfig):
        super().__init__(resolved, env=rsync_env(resolved))
        self.options = rsync_options(resolved, cfg)

    async def run(self, started: Callable[[], None]) -> None:
        self._reset()
        self.data_size = ""
        self.check_upstream()
        await self._rsync(self.options, started)
        self.data_size = await self._size()
