"""`tunasync manager` (alias `m`): run the manager, `--check` a config, or a subcommand (`migrate`).

Subcommands are loaded lazily from `tunasync.cli.manager_<name>` (attribute `command`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..manager.config import CliOverrides

SUBCOMMANDS = {"migrate": ("manager_migrate", "Import a Go tunasync database (bolt) into ours.")}


class _ManagerGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module = SUBCOMMANDS[name][0]
        try:
            mod = importlib.import_module(f"tunasync.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tunasync.cli.{module}":
                raise
            return _not_built(name)
        command: click.Command = mod.command
        return command


def _not_built(name: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"`tunasync manager {name}` is not built yet")

    return cmd


@click.group(
    cls=_ManagerGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--config", "-c", "config_file", type=str, default=None, help="Manager TOML config file.")
@click.option("--addr", default="", help="Listen address (overrides server.addr).")
@click.option("--port", default=0, type=int, help="Listen port (overrides server.port when > 0).")
@click.option("--cert", default="", help="TLS certificate (used only together with --key).")
@click.option("--key", default="", help="TLS key (used only together with --cert).")
@click.option("--db-file", default="", help="Database file, directory or redis URL (overrides files.db_file).")
@click.option("--db-type", default="", help="sqlite | redis | bolt | badger | leveldb (overrides files.db_type).")
@click.option("--verbose", "-v", is_flag=True, help="Log at INFO.")
@click.option("--debug", is_flag=True, help="Log at DEBUG with source positions.")
@click.option("--with-systemd", is_flag=True, help="Log lines without timestamps.")
@click.option("--pidfile", default="/run/tunasync/tunasync.manager.pid", help="Accepted for Go compatibility; unused.")
@click.option("--check", is_flag=True, help="Check the config, print every problem, exit 1 on errors. Warnings (unknown keys, token files "
              "others can read, an API beyond loopback without auth) keep exit 0.")
@click.pass_context
def command(ctx: click.Context, config_file: str | None, addr: str, port: int, cert: str, key: str, db_file: str,
            db_type: str, verbose: bool, debug: bool, with_systemd: bool, pidfile: str, check: bool) -> None:
    """Start the tunasync manager (HTTP API and status database)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..log import setup_logging
    from ..manager.config import CliOverrides, load_config

    overrides = CliOverrides(addr=addr, port=port, cert=cert, key=key, db_file=db_file, db_type=db_type)
    if check:
        sys.exit(run_check(config_file, overrides))
    setup_logging(verbose=verbose, debug=debug, systemd=with_systemd)
    try:
        config = load_config(config_file, overrides)
    except ConfigError as exc:
        click.echo(f"Error loading config: {exc}", err=True)
        sys.exit(1)
    from ..manager.config import exposure_warnings

    for problem in exposure_warnings(config, config_file):  # readable tokens, an open API: said at every start
        logging.getLogger("tunasync.manager").warning("%s", problem)
    from ..manager.server import run_manager
    from ..manager.web import install  # status page, /metrics, /mirrorz.json, status file

    try:
        asyncio.run(run_manager(config, extra_setup=[install]))
    except ConfigError as exc:
        click.echo(f"Error loading config: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # listen error, unreadable cert
        click.echo(f"Error intializing TUNA sync manager: {exc}", err=True)
        sys.exit(1)


def run_check(config_file: str | None, overrides: CliOverrides) -> int:
    """Print every problem of the config (errors and warnings); 1 when any is an error."""
    from ..manager.config import read_config
    from ..manager.db.godb import resolve_storage
    from ..tomlfile import Problem

    cfg, problems = read_config(config_file, overrides)
    if cfg is not None and cfg.files.db_type != "redis":
        try:
            resolve_storage(cfg.files.db_type, cfg.files.db_file, config_file, create=False)
        except ConfigError as exc:
            problems.append(Problem("error", exc.file, exc.key, exc.reason))
    if cfg is not None:
        from ..manager.mirrorz import parse_config as parse_mirrorz

        try:
            parse_mirrorz(cfg.mirrorz, config_file)
        except ConfigError as exc:
            problems.append(Problem("error", exc.file, exc.key, exc.reason))
    for p in problems:
        click.echo(str(p))
    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{config_file or '(defaults)'}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors else 0
