"""Load and check a worker config (docs/compat.md §4.1–§4.4): the public entry points.

    load_worker_config(path) -> WorkerConfig       raises ConfigError(file, key, reason)
    check_worker_config(path) -> list[Problem]     every problem; unknown keys are warnings
    diff_mirrors(old, new) -> list[MirrorChange]   reload reconciliation (docs/compat.md §4.13)

Go's rules: keys match exactly, then case-insensitively; unknown keys are ignored (we warn); a type
mismatch is an error. `include_mirrors` is a glob resolved against the current directory, not the
config's (quirk 32: kept, existing deployments rely on their cwd), matched files are read in sorted
order and only their top-level `[[mirrors]]` count. Nested mirrors flatten into leaves (config_merge).
Env `TUNASYNC_TOKEN`, when set, overrides `[manager] token`.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from ..childenv import SECRET_ENV
from ..configsec import inline_secret_warning, is_loopback
from ..errors import ConfigError
from ..tomlfile import Problem, Problems
from .config_diff import MirrorChange, diff_mirrors
from .config_keys import join_key, match_keys, validate
from .config_merge import Entry, flatten
from .config_models import SECTIONS, MirrorConfig, WorkerConfig
from .config_resolve import ResolvedMirror, check_mirror, resolve_mirror

__all__ = [
    "ConfigError", "MirrorChange", "MirrorConfig", "Problem", "ResolvedMirror", "WorkerConfig",
    "check_worker_config", "diff_mirrors", "load_worker_config", "resolve_mirror",
]

log = logging.getLogger(__name__)

_MIRROR_KEYS = [*MirrorConfig.model_fields, "mirrors"]


def load_worker_config(path: str | os.PathLike[str]) -> WorkerConfig:
    """The worker config at `path`; ConfigError naming file and key on the first error."""
    cfg, problems = _load(os.fspath(path))
    if problems.errors or cfg is None:
        raise problems.errors[0].as_error()
    for p in problems:
        log.warning("%s", p)
    return cfg


def check_worker_config(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem of the config at `path`, errors and warnings, in file order."""
    return list(_load(os.fspath(path))[1])


def _load(path: str) -> tuple[WorkerConfig | None, Problems]:
    problems = Problems()
    raw = problems.read(path)
    if raw is None:
        return None, problems
    top = match_keys(raw, [*SECTIONS, "mirrors"], path, "", problems)
    sections: dict[str, Any] = {}
    for name, model in SECTIONS.items():
        value = top.get(name, {})
        if not isinstance(value, dict):
            problems.error(path, name, f"expected a table [{name}], got {value!r}")
            continue
        section = validate(model, match_keys(value, model.model_fields, path, name, problems), path, name, problems)
        if section is not None:
            sections[name] = section
    entries = _entries(top.get("mirrors", []), path, "mirrors", problems)

    include = sections.get("include")
    if include is not None and include.include_mirrors:
        entries += _included(include.include_mirrors, problems)

    # Keep going past errors (a bad section falls back to defaults) so a check reports everything.
    cfg = WorkerConfig.model_validate({**sections, "path": path})
    inline_token = bool(cfg.manager.token)
    token = os.environ.get("TUNASYNC_TOKEN")
    if token:
        cfg.manager.token = token
    cfg.mirrors = flatten(entries)
    _check_global(cfg, problems, valid=set(sections))
    _check_exposure(cfg, problems, set(sections), inline_token)
    if cfg.manager.token and "manager" in sections:
        problems.warning(path, "manager.token", "the control port asks for it only while every manager "
                         "announces that it forwards it (a tunasync-python manager does); a Go manager "
                         "ignores this key, and once one accepts this worker the port takes commands "
                         "without it, as Go's worker does")
    cfg.mirrors = _one_per_name(cfg.mirrors, path, problems)
    for m in cfg.mirrors:
        check_mirror(m, cfg, problems)
    problems = Problems(dict.fromkeys(problems))  # a bad global value is found once per mirror
    return (None if problems.errors else cfg), problems


def _one_per_name(mirrors: list[MirrorConfig], path: str, problems: Problems) -> list[MirrorConfig]:
    """Go's worker keeps its jobs in a map by name (worker.go initJobs): of two mirrors with one name
    (unnamed nested children inherit their parent's) the last wins. Both are warnings here. A mirror
    without a name is skipped: Go would sync it into `mirror_dir` itself, over every other mirror."""
    last = {m.name: m for m in mirrors if m.name}
    kept: list[MirrorConfig] = []
    for m in mirrors:
        key = join_key(m.key, "name")
        if not m.name:
            problems.warning(m.file or path, key, "empty: this mirror is skipped (Go would sync it into "
                             "mirror_dir itself, over the other mirrors)")
        elif last[m.name] is not m:
            winner = last[m.name]
            problems.warning(m.file or path, key, f"duplicate mirror name {m.name!r}: skipped, the last one "
                             f"({winner.file or path}: {winner.key}) wins, as in Go")
        else:
            kept.append(m)
    return kept


def _entries(value: Any, file: str, prefix: str, problems: Problems) -> list[Entry]:
    """The `[[mirrors]]` array at `prefix`, validated entry by entry (children recursively)."""
    if not isinstance(value, list):
        problems.error(file, prefix, f"expected an array of tables [[{prefix}]], got {value!r}")
        return []
    entries: list[Entry] = []
    for i, item in enumerate(value):
        key = join_key(prefix, i)
        if not isinstance(item, dict):
            problems.error(file, key, f"expected a table, got {item!r}")
            continue
        fields = match_keys(item, _MIRROR_KEYS, file, key, problems)
        children = fields.pop("mirrors", None)
        model = cast(MirrorConfig | None, validate(MirrorConfig, fields, file, key, problems))
        kids = None if children is None else _entries(children, file, join_key(key, "mirrors"), problems)
        if model is not None:
            entries.append(Entry(model.located(file, key), kids))
    return entries


def _included(pattern: str, problems: Problems) -> list[Entry]:
    """Mirrors of the include files, file by file in sorted glob order (relative to the cwd, as Go)."""
    entries: list[Entry] = []
    for file in sorted(go_glob(pattern)):
        raw = problems.read(file)
        if raw is None:
            continue
        top = match_keys(raw, ["mirrors"], file, "", problems)  # only [[mirrors]] counts in an include
        entries += _entries(top.get("mirrors", []), file, "mirrors", problems)
    return entries


def go_glob(pattern: str) -> list[str]:
    """Go's filepath.Glob: `*` and `?` match dot-files too, `[^a]` negates a class like `[!a]`."""
    return glob.glob(re.sub(r"\[\^", "[!", pattern), include_hidden=True)


def _check_global(cfg: WorkerConfig, problems: Problems, valid: set[str]) -> None:
    """Settings Go accepts but that leave a worker useless: warnings, the worker still loads.

    `valid`: the sections that validated (an invalid one stands at its defaults: nothing to warn about)."""
    g, path = cfg.global_, cfg.path
    if "global" in valid:
        if not g.name:
            problems.warning(path, "global.name", "empty: the worker registers with an empty id")
        if g.concurrent == 0:
            problems.warning(path, "global.concurrent", "0: no job runs unless force-started (Go default)")
        if not g.log_dir:
            problems.warning(path, "global.log_dir", "empty: mirrors without log_dir log into the current directory")
    if "manager" in valid and not cfg.manager.api_base and not cfg.manager.api_base_list:
        problems.warning(path, "manager.api_base", "no manager URL: statuses go nowhere")
    if "server" in valid and cfg.server.listen_port == 0:
        problems.warning(path, "server.listen_port", "0: the control server binds a random port the manager never learns")
    a = cfg.archive
    if a.network == "filecoin" and not a.lotus_url:
        # Fatal only when a mirror is archived: otherwise [archive] is not used at all.
        level: Literal["error", "warning"] = "error" if any(m.archive for m in cfg.mirrors) else "warning"
        problems.append(Problem(level, path, "archive.lotus_url",
                                "required when network = filecoin (e.g. https://api.node.glif.io/rpc/v1)"))
    if a.network == "filecoin" and any(m.archive for m in cfg.mirrors):
        # Reading copies works without these; making copies does not (the store step would fail later).
        if not a.singularity_url:
            problems.warning(path, "archive.singularity_url",
                             "empty: no storage backend, so archived mirrors are indexed but never stored")
        elif not a.providers:
            problems.warning(path, "archive.providers", "empty: Singularity has no storage provider to make deals with")
        if not a.piece_url:
            problems.warning(path, "archive.piece_url", "empty: storage providers cannot reach the loopback "
                             "server that offers our CARs; set the public base URL of `tunasync serve -c` "
                             "(CARs are fetched at <piece_url>/piece/<pieceCid>)")
    _check_piece_url(cfg, problems)


def _check_piece_url(cfg: WorkerConfig, problems: Problems) -> None:
    """The shape of `[archive] piece_url`: a base URL (we add /piece/<pieceCid>), reachable from outside
    when real providers fetch from it. `tunasync archive doctor` fetches a CAR back to be sure."""
    url = cfg.archive.piece_url.strip()
    if not url:
        return
    key = "archive.piece_url"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.warning(cfg.path, key, f"{url!r} is not an http(s) URL: providers fetch CARs over HTTP")
        return
    if parts.path.rstrip("/").endswith("/piece"):
        base = url.rstrip("/")[: -len("/piece")]
        problems.warning(cfg.path, key, f"ends in /piece: CARs are fetched at <piece_url>/piece/<pieceCid>, so "
                         f"providers would ask for {url.rstrip('/')}/piece/<pieceCid>; set {base!r}")
    host = parts.hostname
    if (is_loopback(host) or host.endswith(".localhost")) and cfg.archive.network == "filecoin":
        problems.warning(cfg.path, key, f"{host} is a loopback address: storage providers on the Filecoin "
                         "network cannot reach it; use the public URL of `tunasync serve -c`")


def _check_exposure(cfg: WorkerConfig, problems: Problems, valid: set[str], inline_token: bool) -> None:
    """Secrets others can read and a control server others can reach (warnings; docs/security.md)."""
    path = cfg.path
    inline = [("manager.token", "the worker's bearer token", inline_token),
              ("archive.lotus_token", "the Lotus API token", bool(cfg.archive.lotus_token))]
    for key, what, present in inline:
        if present and key.split(".")[0] in valid:
            reason = inline_secret_warning(path, key, what)
            if reason:
                problems.warning(path, key, reason)
    told: set[str] = set()
    for m in cfg.mirrors:
        file = m.file or path
        if m.password and file not in told:
            told.add(file)  # once per file: nested mirrors inherit their parent's password
            reason = inline_secret_warning(file, join_key(m.key, "password"), "an rsync password")
            if reason:
                problems.warning(file, join_key(m.key, "password"), reason)
        for name in SECRET_ENV & set(m.env):
            problems.warning(m.file or path, join_key(join_key(m.key, "env"), name),
                             "puts a token in the job's environment, and a job's output (its log) can be "
                             "read with a read token; the worker's own token is kept from jobs unless set here")
    s = cfg.server
    if "server" in valid and not cfg.manager.token and not is_loopback(s.listen_addr):
        where = repr(s.listen_addr) if s.listen_addr else "every interface"
        problems.warning(path, "server.listen_addr",
                         f"the control server listens on {where} (port {s.listen_port}) with no token: anyone "
                         "who reaches it can start, stop and reconfigure jobs and read their logs; set "
                         "[manager] token (or env TUNASYNC_TOKEN) or listen_addr = \"127.0.0.1\"")
