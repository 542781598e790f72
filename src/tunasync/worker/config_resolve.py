"""Per-mirror values derived from a merged leaf and the global config (docs/compat.md §4.4–§4.6, §6).

`resolve_mirror` is what the providers are built from. The loader calls it for every mirror, so
everything Go only discovers when it builds a provider, often by panicking (quirk 27: a rsync
`rsync_override_only` without `rsync_override`, bad regexps, a `size_pattern` without a capture
group, a log_dir template parse error, an unclosed quote), is a ConfigError naming the file and key
at load and at reload instead of a crash. Three mistakes Go's loader accepts (its own config_test.go
blobs have them) stay per-mirror: an unknown `stage1_profile` (Go fails each run), an empty command
and an rsync upstream without a trailing `/` (Go panics when it builds or runs that provider) load
with a `--check` warning, and that mirror's runs fail with Go's text while the others work.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ..providerkind import ProviderKind, unknown_reason
from ..tomlfile import Problems
from . import config_template, shlex
from .config_keys import join_key
from .config_models import GO_FIELDS, STAGE1_PROFILES, MirrorConfig, WorkerConfig

DEFAULT_RETRY = 2


@dataclass
class ResolvedMirror:
    config: MirrorConfig
    kind: ProviderKind
    name: str
    upstream: str
    interval: timedelta
    retry: int
    timeout: int  # seconds, 0 = none
    working_dir: str
    log_dir: str
    log_file: str
    is_master: bool
    success_codes: list[int]
    memory_limit: int
    command_argv: list[str] = field(default_factory=list)  # command provider
    rsync_cmd: str = "rsync"  # rsync providers: the binary, never split
    fail_on_match: re.Pattern[str] | None = None
    size_pattern: re.Pattern[str] | None = None
    exec_on_success: list[list[str]] = field(default_factory=list)  # effective list, then _extra
    exec_on_failure: list[list[str]] = field(default_factory=list)


def go_clean(path: str) -> str:
    """Go's filepath.Clean: "" -> ".", and one leading slash even where POSIX allows two."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def go_join(*parts: str) -> str:
    """Go's filepath.Join: empty parts are skipped, the result is cleaned."""
    kept = [p for p in parts if p]
    return go_clean("/".join(kept)) if kept else ""


def success_codes(m: MirrorConfig, cfg: WorkerConfig, kind: ProviderKind) -> list[int]:
    """docs/compat.md §4.6: global + mirror codes, then for rsync providers the rsync-only codes, deduplicated."""
    codes = list(cfg.global_.dangerous_global_success_exit_codes) + list(m.success_exit_codes)
    if kind.rsync:
        codes += list(cfg.global_.dangerous_global_rsync_success_exit_codes) + list(m.rsync_success_exit_codes)
    return list(dict.fromkeys(codes))


def template_fields(m: MirrorConfig, kind: ProviderKind, interval: int, retry: int, timeout: int) -> dict[str, object]:
    fields: dict[str, object] = {go: getattr(m, key) for key, go in GO_FIELDS.items()}
    fields.update(Provider=kind.go_value, Interval=interval, Retry=retry, Timeout=timeout)
    fields["ChildMirrors"] = []
    return fields


def resolve_mirror(m: MirrorConfig, cfg: WorkerConfig) -> ResolvedMirror:
    """The derived values of one leaf mirror; ConfigError (file, key) on the first error."""
    problems = Problems()
    resolved = check_mirror(m, cfg, problems)
    if problems.errors or resolved is None:
        raise problems.errors[0].as_error()
    return resolved


def _compile(pattern: str, label: str, file: str, key: str, problems: Problems) -> re.Pattern[str] | None:
    try:
        # RE2's \d, \w, \s are ASCII-only, as re.ASCII makes them.
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        problems.error(file, key, f"{label} regexp error: {exc}")
        return None


def _split(text: str, file: str, key: str, problems: Problems) -> list[str] | None:
    try:
        return shlex.split(text)
    except ValueError as exc:
        problems.error(file, key, f"cannot split command {text!r}: {exc}")
        return None


def check_mirror(m: MirrorConfig, cfg: WorkerConfig, problems: Problems) -> ResolvedMirror | None:
    """Resolve `m`, recording every problem; None when an error prevents resolving."""
    g = cfg.global_
    file, at = m.file or cfg.path, m.key
    n_errors = len(problems.errors)

    def key(k: str) -> str:
        return join_key(at, k)

    if not m.name:
        problems.error(file, key("name"), "a mirror needs a name")
    kind = ProviderKind.lookup(m.provider)
    if kind is None:  # the model refuses it at load; a mirror built any other way is refused here
        problems.error(file, key("provider"), unknown_reason(m.provider))
        return None
    interval = m.interval or g.interval
    retry = m.retry or g.retry or DEFAULT_RETRY
    timeout = m.timeout or g.timeout
    for k in ("interval", "retry", "timeout", "rsync_timeout"):
        if getattr(m, k) < 0:
            problems.error(file, key(k), "must not be negative")

    log_template, log_key = (m.log_dir, (file, key("log_dir"))) if m.log_dir else (g.log_dir, (cfg.path, "global.log_dir"))
    log_dir = ""
    try:
        rendered = config_template.render(log_template, template_fields(m, kind, interval, retry, timeout))
        log_dir = rendered.text
        if rendered.error:
            problems.warning(*log_key, f"{rendered.error}: for mirror {m.name!r} the log dir is cut there "
                             f"({log_dir!r}), as Go does")
    except ValueError as exc:
        problems.error(*log_key, str(exc))

    if m.role not in ("", "master", "slave"):
        problems.warning(file, key("role"), f"unknown role {m.role!r}: treated as master (expected master or slave)")

    r = ResolvedMirror(
        config=m, kind=kind, name=m.name, upstream=m.upstream, interval=timedelta(minutes=interval),
        retry=retry, timeout=timeout,
        working_dir=m.mirror_dir or go_join(g.mirror_dir, m.mirror_subdir, m.name),
        log_dir=log_dir, log_file=go_join(log_dir, "latest.log"), is_master=m.role != "slave",
        success_codes=success_codes(m, cfg, kind), memory_limit=m.memory_limit,
    )

    if kind is ProviderKind.COMMAND:
        argv = _split(m.command, file, key("command"), problems)
        if argv is not None and not argv:
            problems.warning(file, key("command"), "empty command: this mirror fails every run ('empty command')")
        r.command_argv = argv or []
        if m.fail_on_match:
            r.fail_on_match = _compile(m.fail_on_match, "fail-on-match", file, key("fail_on_match"), problems)
        if m.size_pattern:
            r.size_pattern = _compile(m.size_pattern, "size-pattern", file, key("size_pattern"), problems)
            if r.size_pattern is not None and r.size_pattern.groups < 1:
                problems.error(file, key("size_pattern"), "size-pattern needs a capture group, e.g. 'size: ([0-9.]+[KMGTP]?)'")
        if m.rsync_success_exit_codes:
            problems.warning(file, key("rsync_success_exit_codes"), "ignored for a command provider")
    elif kind.rsync:
        r.rsync_cmd = m.command or "rsync"
        if not m.upstream.endswith("/"):
            problems.warning(file, key("upstream"), f"rsync upstream URL should end with /, got {m.upstream!r}: "
                             "this mirror fails every run (Go's worker refuses to start)")
        if kind is ProviderKind.RSYNC and m.rsync_override_only and not m.rsync_override:
            problems.error(file, key("rsync_override_only"), "rsync_override_only is set but rsync_override is empty")
        if kind is ProviderKind.TWO_STAGE_RSYNC and m.stage1_profile not in STAGE1_PROFILES:
            problems.warning(file, key("stage1_profile"), f"Invalid Stage 1 Profile {m.stage1_profile!r} (expected "
                             "debian or debian-oldstyle): this mirror fails every run, as in Go")
        for k in ("fail_on_match", "size_pattern"):
            if getattr(m, k):
                problems.warning(file, key(k), f"ignored for a {kind} provider")

    for label, lists in (("exec_on_success", (m.exec_on_success or g.exec_on_success, m.exec_on_success_extra)),
                         ("exec_on_failure", (m.exec_on_failure or g.exec_on_failure, m.exec_on_failure_extra))):
        out: list[list[str]] = []
        for i, (src, cmds) in enumerate(zip((label, label + "_extra"), lists, strict=True)):
            own = bool(i or getattr(m, src))
            src_file, src_key = (file, key(src)) if own else (cfg.path, f"global.{src}")
            for j, cmd in enumerate(cmds):
                argv = _split(cmd, src_file, join_key(src_key, j), problems)
                if argv == []:
                    problems.warning(src_file, join_key(src_key, j), "empty command: the hook fails with 'Invalid Command'")
                if argv is not None:
                    out.append(argv)
        setattr(r, label, out)

    _check_schedule(m, file, key, problems)
    return r if len(problems.errors) == n_errors else None


def _check_schedule(m: MirrorConfig, file: str, key: Callable[[str], str], problems: Problems) -> None:
    if m.cron is not None:
        if m.interval:
            problems.error(file, key("cron"), "cron and interval are both set: choose one")
        from . import cron

        try:
            cron.parse(m.cron)
        except ValueError as exc:
            problems.error(file, key("cron"), f"bad cron expression {m.cron!r}: {exc}")
    if m.timezone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(m.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.error(file, key("timezone"), f"unknown time zone {m.timezone!r}")
        if m.cron is None:
            problems.warning(file, key("timezone"), "timezone without cron has no effect")
