"""`tunasync`: one executable, one subcommand per service or tool.

Each subcommand lives in its own module `tunasync.cli.<module>` exposing a click command named
`command`; it is imported only when used, so `tunasync cid` never pays for aiohttp or the manager.
"""

from __future__ import annotations

import importlib
import sys

import click

from .goflags import GoUsageError, UnknownCommand, go_to_click, split_app_flags, usage_failure, version_text

# name -> (module, one-line help). Aliases as in Go: `m` = manager, `w` = worker.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "manager": ("manager", "Start the tunasync manager (HTTP API and status database)."),
    "worker": ("worker", "Start a tunasync worker (runs the mirror jobs)."),
    "serve": ("serve", "Serve mirror trees over HTTP, retrieving evicted files on demand."),
    "devnet": ("devnet", "Run the local Filecoin devnet (chain RPC, IPNI, storage providers)."),
    "archive": ("archive", "Inspect and drive the Filecoin archive tier of a worker's mirrors."),
    "filecoin": ("filecoin", "Ask the Filecoin network about copies; fetch content by CID."),
    "cid": ("cid", "Compute UnixFS CIDs (and piece CIDs) of files and directories."),
    "car": ("car", "Verify CAR files and extract content from them."),
}
ALIASES = {"m": "manager", "w": "worker"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        name = ALIASES.get(name, name)
        if name not in SUBCOMMANDS:
            return None
        module, _ = SUBCOMMANDS[name]
        try:
            mod = importlib.import_module(f"tunasync.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tunasync.cli.{module}":
                return _not_yet(name)
            raise
        command: click.Command = mod.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_yet(name: str) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args: tuple[str, ...]) -> None:
        raise click.ClickException(f"`tunasync {name}` is not built yet (see README, 'Not yet done')")

    return cmd


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_text())
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
def cli() -> None:
    """tunasync: mirror job manager (drop-in for Go tunasync 0.10) with a Filecoin archive tier."""


APP_FLAGS = {"version": "--version", "v": "--version", "help": "--help", "h": "--help"}
GO_FACING = ("manager", "worker")  # Go tunasync's commands: their flags are read with Go's syntax


def go_argv(argv: list[str]) -> list[str]:
    """A Go tunasync command line in click's form (see goflags); our own commands pass unchanged."""
    head, rest = split_app_flags(argv, APP_FLAGS)
    if not rest:
        return head
    name = ALIASES.get(rest[0], rest[0])
    if name in ("help", "h"):  # urfave/cli's help command: `tunasync help worker`
        return head + (rest[1:2] + ["--help"] if rest[1:2] else ["--help"])
    if name not in SUBCOMMANDS:
        raise UnknownCommand(f"No help topic for '{rest[0]}'")
    if name not in GO_FACING:
        return head + rest
    cmd = cli.get_command(click.Context(cli), name)
    assert cmd is not None
    # `tunasync manager migrate ...` is ours: flags before the subcommand are Go's, the rest click's
    return head + [rest[0]] + go_to_click(cmd, rest[1:], stop_at_positional=isinstance(cmd, click.Group))


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        args = go_argv(args)
    except UnknownCommand as exc:
        click.echo(exc.message, err=True)
        sys.exit(3)
    except GoUsageError as exc:
        command = f"tunasync {args[0]}" if args and not args[0].startswith("-") else "tunasync"
        click.echo(usage_failure(command, exc.message), err=True)
        sys.exit(2)
    cli(args=args, prog_name="tunasync")


if __name__ == "__main__":
    main()
