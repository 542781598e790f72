"""The rsync provider (docs/compat.md §6.1): argv in Go's exact order, USER/RSYNC_PASSWORD, size from --stats.

On a failed rsync the log gets Go's `rsync error: <meaning>` line (quirk 30), and the error text is
Go's `exit status 23` followed by the meaning, `exit status 23: Partial transfer due to error`, so
`tunasynctl list` shows why while scripts matching Go's prefix still match (quirk 30: fixed).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import stat
import subprocess
from collections.abc import Callable, Iterator

from ...providerkind import ProviderKind
from ..config_models import WorkerConfig
from ..config_resolve import ResolvedMirror
from ..rsync_errors import explain, log_line
from ..runner import exit_code, failure
from .base import ProviderError
from .process import ARCHIVE_COMPARE_DEST_KEY, ARCHIVE_EXCLUDE_KEY, ProcessProvider, read_log

log = logging.getLogger(__name__)

BASE_OPTIONS = [
    "-aHvh", "--no-o", "--no-g", "--stats", "--filter", "risk .~tmp~/", "--exclude", ".~tmp~/",
    "--delete", "--delete-after", "--delay-updates", "--safe-links",
]
TOTAL_SIZE = re.compile(r"^Total file size: ([0-9\.]+[KMGTP]?) bytes", re.MULTILINE)


# With a shadow tree of evicted placeholders (archive/shadow.py) rsync must compare no attribute but size
# and mtime: an alt-dest file that matches those but differs in a compared attribute is *copied* into
# the mirror (a file of zeros). These switch every such comparison off; they come last, so they win.
SHADOW_SAFE = ["--no-perms", "--no-owner", "--no-group", "--no-acls", "--no-xattrs"]
_ARG_LETTERS = frozenset("eBfTM")  # short options whose value may follow in the same word


def _short_letters(options: list[str]) -> Iterator[str]:
    for o in options:
        if o.startswith("-") and not o.startswith("--"):
            for c in o[1:]:
                yield c
                if c in _ARG_LETTERS:
                    break


def _last_switch(options: list[str], on: set[str], off: set[str], letter: str, off_letter: str = "") -> bool | None:
    """Whether the last mention of a switch turns it on (None: never mentioned)."""
    state: bool | None = None
    for o in options:
        name = o.split("=", 1)[0]
        if name in on:
            state = True
        elif name in off:
            state = False
        elif o.startswith("-") and not o.startswith("--"):
            for c in o[1:]:
                if c == letter:
                    state = True
                elif off_letter and c == off_letter:
                    state = False
                if c in _ARG_LETTERS:
                    break
    return state


def keeps_dir_times(options: list[str]) -> bool:
    """Does this rsync argv keep directory mtimes equal to the upstream's (-a or -t, and no -O)?"""
    times = "a" in set(_short_letters(options)) or any(o == "--archive" for o in options)
    t = _last_switch(options, {"--times"}, {"--no-times", "--no-t"}, "t")
    if t is not None:
        times = t
    omit = _last_switch(options, {"--omit-dir-times"}, {"--no-omit-dir-times", "--no-O"}, "O")
    return times and not omit


def shadow_options(shadow: str, options: list[str]) -> list[str]:
    """`--compare-dest` of the shadow tree and the switches that make it safe, or [] when `-E` is in
    effect (it compares the executable bit and cannot be switched off: evicted files are then fetched
    back rather than risk a file of zeros)."""
    if _last_switch(options, {"--executability"}, set(), "E"):
        log.warning("rsync option -E compares the executable bit: evicted files will be fetched back")
        return []
    extra = []
    if _last_switch(options, {"--atimes"}, {"--no-atimes", "--no-U"}, "U"):
        extra.append("--no-atimes")
    if _last_switch(options, {"--crtimes"}, {"--no-crtimes", "--no-N"}, "N"):
        extra.append("--no-crtimes")
    return ["--compare-dest", shadow, *SHADOW_SAFE, *extra]


@functools.lru_cache(maxsize=16)
def rsync_version(cmd: str) -> tuple[int, int]:
    """(major, minor) of an rsync binary, (0, 0) when it cannot be told."""
    try:
        out = subprocess.run([cmd, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return (0, 0)
    m = re.search(r"version\s+(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def private_path(path: str) -> bool:
    """Can no other user put a symlink anywhere along `path`? Every directory on the way (and the path
    itself) is owned by root or by us and writable by nobody else, or sticky (others cannot replace
    what we own in it)."""
    me = os.geteuid()
    full = os.path.abspath(path)
    parts = full.split("/")
    for i in range(1, len(parts) + 1):
        comp = "/".join(parts[:i]) or "/"
        try:
            st = os.lstat(comp)
        except OSError:
            return False
        if st.st_uid not in (0, me):
            return False
        if stat.S_ISLNK(st.st_mode):
            return private_path(os.path.realpath(comp)) and private_path("/".join([os.path.realpath(comp), *parts[i:]]))
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return False
    return True


def fast_basis_lookup(cmd: str, paths: list[str]) -> list[str]:
    """`--insecure-links` where it changes nothing but speed. rsync 3.5 resolves every operator path
    (the destination, `--compare-dest`, ...) by opening each directory on the way and refusing symlinks
    that other users own, and it does so for every listed file's compare-dest lookup: about three
    system calls per path component per file, which doubles a sync of small files. When no other user
    can write anywhere along those paths there is no such symlink to refuse, and the option restores
    the lookup of every rsync before 3.5."""
    if rsync_version(cmd) >= (3, 5) and all(private_path(p) for p in paths):
        return ["--insecure-links"]
    return []


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

    def archive_excludes(self, options: list[str]) -> list[str]:
        """The archive tier's options (archive/shadow.py): its rules file, and the shadow tree that keeps
        rsync from fetching evicted files again (may run a program once: call it off the event loop)."""
        path = self.context.get(ARCHIVE_EXCLUDE_KEY)
        out = ["--exclude-from", path] if path else []
        shadow = self.context.get(ARCHIVE_COMPARE_DEST_KEY)
        if not shadow:
            return out
        from ..hooks.docker import DockerHook

        safe = shadow_options(shadow, options)
        in_docker = any(isinstance(h, DockerHook) for h in self.hooks)  # the image's rsync, not ours
        if safe and not in_docker:
            safe += fast_basis_lookup(self.resolved.rsync_cmd, [shadow, self.working_dir, *([path] if path else [])])
        return out + safe

    async def _rsync(self, options: list[str], started: Callable[[], None] | None, append: bool = False) -> None:
        archive = await asyncio.to_thread(self.archive_excludes, options)
        argv = [self.resolved.rsync_cmd, *options, *archive, self.upstream, self.working_dir]
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
