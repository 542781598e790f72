"""Manager configuration (docs/compat.md §3.1; our additions: docs/architecture.md
"Names shared across the code" and docs/security.md).

Precedence: built-in defaults, then the TOML file, then CLI flags (docs/compat.md §2.1). Keys match exactly, then
case-insensitively (BurntSushi); unknown keys are ignored at startup and reported by `--check`.
`read_config` collects every problem; `load_config` raises the first error as a ConfigError.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..configsec import inline_secret_warning, is_loopback, mode_text, readable_by_others
from ..errors import ConfigError
from ..tomlfile import Problem, Problems, bound_reason
from .config_keys import match_keys

DB_TYPES = ("sqlite", "redis", "bolt", "badger", "leveldb")
ROLES = ("worker", "admin", "read")


class _Section(BaseModel):
    # Go's TOML decoder refuses a string where an int is expected: strict types, like Go.
    # Attribute docstrings are the descriptions of the generated config reference (tunasync.configref).
    model_config = ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True)


class ServerConfig(_Section):
    addr: str = "127.0.0.1"
    """Address the HTTP API binds."""
    port: Annotated[int, Field(ge=0, le=65535)] = 14242
    """Port of the HTTP API (and the status page, /metrics, /mirrorz.json)."""
    ssl_cert: str = ""
    """Certificate file: HTTPS when both ssl_cert and ssl_key are set."""
    ssl_key: str = ""
    """Key file of ssl_cert."""
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    """Open HTTP connections at once; past it the oldest idle one is closed, or the new one refused."""
    header_timeout: float = Field(default=60.0, gt=0, le=86_400)
    """Seconds a new connection has to send its whole first request head before it is closed."""


class FilesConfig(_Section):
    status_file: str = "/var/lib/tunasync/tunasync.json"
    """tunasync.json status file (the bytes of GET /jobs), rewritten atomically on change; "" = off."""
    db_type: str = "sqlite"
    """sqlite (default), redis (db_file is a Redis URL), or Go's bolt / badger / leveldb (stored in SQLite)."""
    db_file: str = "/var/lib/tunasync/tunasync.db"
    """SQLite file, Redis URL, or the Go database path (bolt: a file; badger/leveldb: a directory)."""
    ca_cert: str = ""
    """CA file to verify workers' HTTPS control servers."""


class TokenConfig(_Section):
    name: str = ""
    """Who the token belongs to (shown in logs)."""
    role: Literal["worker", "admin", "read"]
    """worker (register and post statuses), admin (everything) or read (GET routes)."""
    token: str = ""
    """The bearer token itself."""
    token_file: str = ""
    """Or a file holding it (first line)."""
    workers: list[str] | None = None
    """worker role: the worker IDs this token may register and post for (403 for others); unset = [name]; ["*"] = any."""

    def acts_for(self) -> frozenset[str]:
        """The worker IDs a `worker` token may act for (`*` in it: any)."""
        if self.workers is not None:
            return frozenset(self.workers)
        return frozenset([self.name]) if self.name else frozenset()


class AuthConfig(_Section):
    tokens: list[TokenConfig] = Field(default_factory=list)
    """[[auth.tokens]] entries; none: the API is open, as in Go."""
    worker_networks: list[str] = Field(default_factory=list)
    """CIDRs a worker's registered URL must point into (an IP, or a name resolving there); empty = anywhere."""


class HistoryConfig(_Section):
    keep: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    """Runs kept per mirror for GET /workers/:id/jobs/:job/history."""


class ManagerConfig(_Section):
    debug: bool = False
    """Log at DEBUG."""
    server: ServerConfig = Field(default_factory=ServerConfig)
    """[server]: where the API listens."""
    files: FilesConfig = Field(default_factory=FilesConfig)
    """[files]: database and status file."""
    auth: AuthConfig = Field(default_factory=AuthConfig)
    """[auth]: API tokens."""
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    """[history]: run history."""
    # Site metadata for /mirrorz.json, kept as a free table for the helper that renders it.
    mirrorz: dict[str, Any] = Field(default_factory=dict)
    """[mirrorz]: site metadata for /mirrorz.json (see docs/operators.md)."""
    # The config file this came from (None: defaults only); not a TOML key.
    source: str | None = Field(default=None, exclude=True)


@dataclass
class CliOverrides:
    """The manager flags of docs/compat.md §2.1 that override the file."""

    addr: str = ""
    port: int = 0
    cert: str = ""
    key: str = ""
    db_file: str = ""
    db_type: str = ""


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def apply_overrides(cfg: ManagerConfig, o: CliOverrides) -> None:
    if o.addr:
        cfg.server.addr = o.addr
    if o.port > 0:
        cfg.server.port = o.port
    if o.cert and o.key:  # Go applies them only as a pair
        cfg.server.ssl_cert, cfg.server.ssl_key = o.cert, o.key
    if o.db_file:
        cfg.files.db_file = o.db_file
    if o.db_type:
        cfg.files.db_type = o.db_type


def _semantic(cfg: ManagerConfig, file: str | None) -> list[Problem]:
    """Checks pydantic cannot express; also resolves token_file into token."""
    probs: list[Problem] = []

    def err(key: str, reason: str) -> None:
        probs.append(Problem("error", file, key, reason))

    if cfg.files.db_type not in DB_TYPES:
        err("files.db_type", f"unsupported db-type: {cfg.files.db_type}")
    if not 0 <= cfg.server.port <= 65535:
        err("server.port", f"port {cfg.server.port} out of range 0..65535")
    if bool(cfg.server.ssl_cert) != bool(cfg.server.ssl_key):
        missing = "server.ssl_key" if cfg.server.ssl_cert else "server.ssl_cert"
        err(missing, "ssl_cert and ssl_key must be set together")
    for key in ("ssl_cert", "ssl_key"):
        path = getattr(cfg.server, key)
        if path:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                err(f"server.{key}", f"cannot read {path}: {exc.strerror or exc}")
    if cfg.files.ca_cert:
        try:
            with open(cfg.files.ca_cert, "rb"):
                pass
        except OSError as exc:
            err("files.ca_cert", f"cannot read {cfg.files.ca_cert}: {exc.strerror or exc}")
    if cfg.history.keep < 1:
        err("history.keep", f"keep must be at least 1, not {cfg.history.keep}")
    for i, net in enumerate(cfg.auth.worker_networks):
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            err(f"auth.worker_networks[{i}]", f"not a network (CIDR such as 10.0.0.0/8): {exc}")
    for i, tok in enumerate(cfg.auth.tokens):
        key = f"auth.tokens[{i}]"
        if tok.role == "worker" and not tok.acts_for():
            err(key, "a worker token needs a `name` or `workers` (the worker IDs it may act for)")
        elif tok.role != "worker" and tok.workers is not None:
            probs.append(Problem("warning", file, f"{key}.workers", f"ignored: only worker tokens are bound "
                                 f"to worker IDs, this one is {tok.role}"))
        if tok.token and tok.token_file:
            err(key, "set token or token_file, not both")
        elif tok.token_file:
            try:
                with open(tok.token_file, encoding="utf-8") as fh:
                    tok.token = fh.read().strip()
            except OSError as exc:
                err(f"{key}.token_file", f"cannot read {tok.token_file}: {exc.strerror or exc}")
                continue
            if not tok.token:
                err(f"{key}.token_file", f"{tok.token_file} is empty")
        elif not tok.token:
            err(key, "a token needs `token` or `token_file`")
    probs += exposure_warnings(cfg, file)
    return probs


def exposure_warnings(cfg: ManagerConfig, file: str | None) -> list[Problem]:
    """Tokens others can read, an open API beyond loopback: warnings (docs/security.md)."""
    probs: list[Problem] = []
    told = False
    for i, tok in enumerate(cfg.auth.tokens):
        key = f"auth.tokens[{i}]"
        if tok.token_file:
            mode = readable_by_others(tok.token_file)
            if mode is not None:
                probs.append(Problem("warning", file, f"{key}.token_file",
                                     f"{tok.token_file} has {mode_text(mode)}; chmod 600 {tok.token_file}"))
        elif tok.token and file and not told:
            reason = inline_secret_warning(file, f"{key}.token", "API tokens")
            if reason:
                told = True  # once per file
                probs.append(Problem("warning", file, f"{key}.token", reason))
    if not cfg.auth.tokens and not is_loopback(cfg.server.addr):
        where = repr(cfg.server.addr) if cfg.server.addr else "every interface"
        probs.append(Problem("warning", file, "server.addr",
                             f"the API listens on {where} with no [[auth.tokens]]: anyone who reaches port "
                             f"{cfg.server.port} can register workers, post statuses and send commands; "
                             "add tokens (docs/security.md) or bind 127.0.0.1"))
    return probs


def read_config(path: str | None, overrides: CliOverrides | None = None) -> tuple[ManagerConfig | None, list[Problem]]:
    """Parse, override and validate; return the config (None on errors) and every problem found."""
    probs = Problems()
    if path is None:
        cfg = ManagerConfig()
    else:
        raw = probs.read(path, "malformed TOML")
        if raw is None:
            return None, probs
        data, unknown = match_keys(raw, ManagerConfig)
        if "source" in data:
            unknown.append("source")
            del data["source"]
        probs += [Problem("warning", path, key, "unknown key (ignored)") for key in unknown]
        try:
            cfg = ManagerConfig.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                probs.append(Problem("error", path, _loc_to_key(e["loc"]), bound_reason(e) or e["msg"]))
            return None, probs
        cfg.source = path
    if overrides:
        apply_overrides(cfg, overrides)
    probs += _semantic(cfg, path)
    return (None if any(p.level == "error" for p in probs) else cfg), probs


def load_config(path: str | None, overrides: CliOverrides | None = None) -> ManagerConfig:
    """The config to run with; raises ConfigError(file, key, reason) for the first error."""
    cfg, probs = read_config(path, overrides)
    for p in probs:
        if p.level == "error":
            raise ConfigError(p.file, p.key, p.reason)
    assert cfg is not None
    return cfg
