"""What every tunasynctl subcommand shares: the common flags, config setup, errors, the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import click

from ..errors import ConfigError, TunasyncError
from ..log import setup_logging
from .ctl_config import CtlConfig, load, ssl_context

log = logging.getLogger("tunasynctl")
# On stderr only, so scripts that read stdout and the exit code keep working.
TOKEN_FLAG_WARNING = ("tunasynctl: warning: --token shows the token to every user of this machine (ps, "
                      "/proc); use env TUNASYNC_TOKEN or `token` in ctl.conf (mode 0600) instead")
T = TypeVar("T")


class Fail(TunasyncError):
    """Print `message` on stderr and exit with status 1 (Go's cli.NewExitError(msg, 1))."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str) -> NoReturn:
    raise Fail(message)


@dataclass
class CommonOpts:
    config: str | None
    manager: str | None
    port: int | None
    ca_cert: str | None
    verbose: bool
    debug: bool
    token: str | None

    def setup(self) -> CtlConfig:
        """Logging, then the layered config; errors exit 1 with the reason (Go's initialize)."""
        setup_logging(self.verbose, self.debug)
        if self.token:
            click.echo(TOKEN_FLAG_WARNING, err=True)
        port = self.port if self.port and self.port > 0 else None  # Go: `-p` counts only when > 0
        try:
            cfg = load(self.config, manager=self.manager, port=port, ca_cert=self.ca_cert, token=self.token)
        except ConfigError as exc:
            fail(str(exc))
        for path in cfg.loaded:
            log.info("Loading config: %s", path)
        log.info("Use manager address: %s", cfg.base_url)
        try:
            ssl_context(cfg)
        except ConfigError as exc:
            fail(f"error initializing HTTP client: {exc}")
        return cfg


_COMMON = [
    click.option("--config", "-c", metavar="FILE",
                 help="Read configuration from FILE rather than ~/.config/tunasync/ctl.conf and /etc/tunasync/ctl.conf"),
    click.option("--manager", "-m", help="The manager server address"),
    click.option("--port", "-p", type=int, help="The manager server port"),
    click.option("--ca-cert", metavar="CERT", help="Trust root CA cert file CERT"),
    click.option("--verbose", "-v", is_flag=True, help="Enable verbosely logging"),
    click.option("--debug", is_flag=True, help="Enable debugging logging"),
    click.option("--token", metavar="TOKEN",
                 help="Bearer token for a manager with auth. Other users see it in the process list: prefer env "
                      "TUNASYNC_TOKEN or `token` in ctl.conf (mode 0600)"),
]

CONTEXT = {"help_option_names": ["-h", "--help"]}


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the common flags to a subcommand; the function receives them as a CommonOpts first argument."""

    @functools.wraps(f)
    def wrapper(config: str | None, manager: str | None, port: int | None, ca_cert: str | None, verbose: bool,
                debug: bool, token: str | None, **kw: Any) -> Any:
        return f(CommonOpts(config, manager, port, ca_cert, verbose, debug, token), **kw)

    for opt in reversed(_COMMON):
        wrapper = opt(wrapper)
    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    """One event loop per tunasynctl run."""
    return asyncio.run(coro)


def seg(s: str) -> str:
    """A URL path segment (worker or mirror name)."""
    return quote(s, safe="")


def out(text: str) -> None:
    """Go's fmt.Println to stdout."""
    sys.stdout.write(text + "\n")
