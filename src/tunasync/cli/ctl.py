"""`tunasynctl`: the control client of the tunasync manager (docs/compat.md §8), drop-in for Go's.

Every subcommand takes the common flags (`-c -m -p --ca-cert -v --debug --token`), before or after its
positional arguments. Errors print their message on stderr and exit 1, as Go's urfave/cli does.
`--generate-bash-completion` answers the completion scripts Go tunasync ships.
"""

from __future__ import annotations

import sys

import click

from .ctl_commands import COMMANDS as GO_COMMANDS
from .ctl_common import CONTEXT, Fail
from .ctl_history import COMMANDS as EXTRA_COMMANDS
from .goflags import GoUsageError, go_to_click, split_app_flags, usage_failure, version_text

COMPLETION_FLAG = "--generate-bash-completion"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_text())
    ctx.exit()


@click.group(context_settings=CONTEXT)
@click.option("--version", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="print the version")
def cli() -> None:
    """control client for tunasync manager"""


for _cmd in GO_COMMANDS + EXTRA_COMMANDS:
    cli.add_command(_cmd)


@cli.command("help", context_settings=CONTEXT)
@click.argument("command", required=False)
@click.pass_context
def help_cmd(ctx: click.Context, command: str | None) -> None:
    """Shows a list of commands or help for one command"""
    parent = ctx.parent
    assert parent is not None
    if command is None:
        click.echo(cli.get_help(parent))
        return
    sub = cli.get_command(parent, command)
    if sub is None:
        raise Fail(f"No help topic for '{command}'", 3)
    with click.Context(sub, info_name=command, parent=parent) as sub_ctx:
        click.echo(sub.get_help(sub_ctx))


cli.add_command(click.Command("h", callback=help_cmd.callback, params=help_cmd.params, hidden=True,
                              context_settings=CONTEXT))


def complete(argv: list[str]) -> str:
    """urfave/cli's bash completion: command names, or a command's flags after a `-` word."""
    args = [a for a in argv if a != COMPLETION_FLAG]
    names = [a for a in args if not a.startswith("-")]
    if not names or names[0] not in cli.commands:
        return "".join(name + "\n" for name in cli.commands)
    cmd = cli.commands[names[0]]
    last = args[-1] if args else ""
    if not last.startswith("-"):
        return ""
    flags: list[str] = []
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            flags.extend(o for o in p.opts if o.startswith("--") and o.startswith(last))
    return "".join(f + "\n" for f in flags)


APP_FLAGS = {"version": "--version", "v": "--version", "help": "--help", "h": "--help"}


def go_argv(argv: list[str]) -> list[str]:
    """A Go tunasynctl command line in click's form (see goflags). Every subcommand reads Go's syntax: they
    all share Go's common flags. An unknown command is Go's `No help topic for 'foo'`, exit 3."""
    head, rest = split_app_flags(argv, APP_FLAGS)
    if not rest:
        return head
    cmd = cli.commands.get(rest[0])
    if cmd is None:
        raise Fail(f"No help topic for '{rest[0]}'", 3)
    if rest[0] in ("help", "h"):
        return head + rest
    return head + [rest[0]] + go_to_click(cmd, rest[1:])


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if COMPLETION_FLAG in args:
        sys.stdout.write(complete(args))
        sys.exit(0)
    try:
        args = go_argv(args)
    except Fail as exc:
        sys.stderr.write(exc.message + "\n")
        sys.exit(exc.code)
    except GoUsageError as exc:
        command = f"tunasynctl {args[0]}" if args and not args[0].startswith("-") else "tunasynctl"
        sys.stderr.write(usage_failure(command, exc.message) + "\n")
        sys.exit(1)
    try:
        cli.main(args=args, prog_name="tunasynctl", standalone_mode=False)
    except Fail as exc:
        if exc.message:
            sys.stderr.write(exc.message.rstrip("\n") + "\n")
        sys.exit(exc.code)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(0)
    except click.UsageError as exc:
        exc.show()
        sys.exit(1)
    except click.exceptions.Abort:
        sys.stderr.write("Aborted!\n")
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
