"""tunasynctl configuration (docs/compat.md §8.1): defaults → /etc → $HOME → `-c FILE` → flags.

Keys (TOML, matched exactly and then case-insensitively like Go's BurntSushi decoder; unknown keys are
ignored as Go does): `manager_addr` (default `localhost`), `manager_port` (14242), `ca_cert` (""), and
our `token` (Bearer token for a manager with auth; also `--token` or env `TUNASYNC_TOKEN`).
The base URL is `https://addr:port` when a CA certificate is configured, else `http://addr:port`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..tomlfile import read_toml

SYSTEM_CONFIG = Path("/etc/tunasync/ctl.conf")
TOKEN_ENV = "TUNASYNC_TOKEN"


def user_config(env: Mapping[str, str]) -> Path:
    """`$HOME/.config/tunasync/ctl.conf` (Go expands $HOME, so an unset HOME gives `/.config/...`)."""
    return Path(env.get("HOME", "") + "/.config/tunasync/ctl.conf")


@dataclass
class CtlConfig:
    manager_addr: str = "localhost"
    manager_port: int = 14242
    ca_cert: str = ""
    token: str = ""
    loaded: list[str] = field(default_factory=list)  # files read, in order (for --debug)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ca_cert else "http"
        host = f"[{self.manager_addr}]" if ":" in self.manager_addr else self.manager_addr
        return f"{scheme}://{host}:{self.manager_port}"


_KEYS: dict[str, type] = {"manager_addr": str, "manager_port": int, "ca_cert": str, "token": str}
_TYPE_NAMES = {str: "a string", int: "an integer"}


def _match(key: str) -> str | None:
    if key in _KEYS:
        return key
    for k in _KEYS:
        if k.lower() == key.lower():
            return k
    return None


def apply_file(cfg: CtlConfig, path: Path) -> None:
    """Overlay one TOML file onto cfg; ConfigError names the file and key."""
    data: dict[str, Any] = read_toml(str(path), "malformed TOML")
    for raw_key, value in data.items():
        key = _match(raw_key)
        if key is None:
            continue  # Go ignores unknown keys
        want = _KEYS[key]
        if not isinstance(value, want) or isinstance(value, bool):
            raise ConfigError(str(path), raw_key, f"expected {_TYPE_NAMES[want]}, got {type(value).__name__} {value!r}")
        if key == "manager_port" and isinstance(value, int) and not 1 <= value <= 65535:
            raise ConfigError(str(path), raw_key, f"port {value} out of range 1..65535")
        setattr(cfg, key, value)
    cfg.loaded.append(str(path))


def load(config_file: str | None = None, *, manager: str | None = None, port: int | None = None,
         ca_cert: str | None = None, token: str | None = None, system_file: Path = SYSTEM_CONFIG,
         env: Mapping[str, str] | None = None) -> CtlConfig:
    """Build the effective config from every layer, later layers winning."""
    if env is None:
        env = os.environ
    cfg = CtlConfig()
    if system_file.is_file():
        apply_file(cfg, system_file)
    user = user_config(env)
    if user.is_file():
        apply_file(cfg, user)
    if config_file:
        apply_file(cfg, Path(config_file))
    if env.get(TOKEN_ENV):
        cfg.token = env[TOKEN_ENV]
    if manager:
        cfg.manager_addr = manager
    if port is not None and port > 0:
        cfg.manager_port = port
    if ca_cert:
        cfg.ca_cert = ca_cert
    if token:
        cfg.token = token
    return cfg


def ssl_context(cfg: CtlConfig) -> ssl.SSLContext | None:
    """TLS trusting only the configured CA (Go: a pool with just that file); None for plain HTTP."""
    if not cfg.ca_cert:
        return None
    try:
        return ssl.create_default_context(cafile=cfg.ca_cert)
    except FileNotFoundError:
        raise ConfigError(cfg.ca_cert, None, "CA certificate file not found") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(cfg.ca_cert, None, f"cannot load CA certificate: {exc}") from None
