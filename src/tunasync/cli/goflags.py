"""Go's command-line syntax in front of the click commands that Go tunasync also has.

Go tunasync 0.10 parses its flags with urfave/cli v2, which hands each command's arguments to Go's
`flag` package. Systemd units, cron lines and scripts written for it use that syntax:

- a flag is `-name` or `--name` (one dash or two, for long and short names alike);
- a value follows as `-name=value` or as the next argument `-name value`;
- a boolean flag takes a value only as `-name=value` (`true`, `false`, `1`, `0`, `t`, `F`, ...);
- an int flag reads Go integer syntax (`0x3792`, `0o17`, a leading `0` for octal, `_` separators);
- `--` ends the flags; a lone `-` is a positional argument;
- `-h`, `-help`, `--help` ask for help on every command.

Click reads `-config F` as `-c onfig F` and `-f=TPL` as the value `=TPL`. So `go_to_click` rewrites a
Go command line into the canonical click form `--name=value`, with every positional argument after a
`--`, so that click never guesses. Flags are looked up in the click command's own options, which keeps
one list of flags per command. Go stops reading flags at the first positional argument; a known flag
after a positional is still read as a flag here (click did that before this front existed and the
tunasynctl docs show it), while anything unknown after a positional stays a positional, as in Go.

Errors carry Go's `flag` package texts (`flag provided but not defined: -x`, ...), which urfave/cli
prints after `Incorrect Usage:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import click

from ..errors import TunasyncError

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT64_MAX = (1 << 63) - 1
_INT_RE = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*)")


class GoUsageError(TunasyncError):
    """A command line Go's `flag` package refuses; `message` is Go's text for it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownCommand(GoUsageError):
    """urfave/cli's answer to an unknown command: `No help topic for 'x'`, exit 3 (help.go)."""


@dataclass(frozen=True)
class Flag:
    """One option of a click command as Go's `flag` package sees it."""

    target: str  # the click spelling the front emits, e.g. "--config"
    takes_value: bool
    is_int: bool = False


def flags_of(cmd: click.Command) -> dict[str, Flag]:
    """Every name (without dashes) a Go command line may use for `cmd`'s options, help included."""
    table: dict[str, Flag] = {}
    for param in cmd.params:
        if not isinstance(param, click.Option):
            continue
        longs = [o for o in param.opts if o.startswith("--")]
        target = max(longs or param.opts, key=len)
        flag = Flag(target, not param.is_flag, isinstance(param.type, click.types.IntParamType))
        for opt in param.opts:
            table[opt.lstrip("-")] = flag
    help_flag = Flag("--help", False)
    table.setdefault("help", help_flag)
    table.setdefault("h", help_flag)
    return table


def parse_go_int(value: str) -> int | None:
    """strconv.ParseInt(value, 0, 64): None when Go would call it a parse error, ValueError out of range."""
    if not _INT_RE.fullmatch(value):
        return None
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXbBoO":
        body = "0o" + body[1:]  # Go: a leading 0 means octal
    try:
        number = sign * int(body, 0)
    except ValueError:  # misplaced `_`, or digits that don't fit the base
        return None
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise ValueError("value out of range")
    return number


def _value(name: str, flag: Flag, value: str) -> str:
    if not flag.is_int:
        return value
    try:
        number = parse_go_int(value)
    except ValueError as exc:
        raise GoUsageError(f'invalid value "{value}" for flag -{name}: {exc}') from None
    if number is None:
        raise GoUsageError(f'invalid value "{value}" for flag -{name}: parse error')
    return str(number)


def go_to_click(cmd: click.Command, argv: list[str], *, stop_at_positional: bool = False) -> list[str]:
    """`argv` (the arguments after the command name) in click's canonical form; GoUsageError if Go refuses it.

    `stop_at_positional`: everything from the first positional on is passed on untouched (a group's
    subcommand and its own arguments keep click's syntax)."""
    table = flags_of(cmd)
    chosen: dict[str, str | bool] = {}  # target -> value (True/False for booleans); the last one wins
    positionals: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if len(arg) < 2 or arg[0] != "-":
            if stop_at_positional:
                rest = argv[i - 1:]
                break
            positionals.append(arg)
            continue
        if arg == "--":
            positionals.extend(argv[i:])
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if not name or name[0] in "-=":
            if positionals:
                positionals.append(arg)
                continue
            raise GoUsageError(f"bad flag syntax: {arg}")
        has_value = "=" in name[1:]
        value = ""
        if has_value:
            name, value = name.split("=", 1)
        flag = table.get(name)
        if flag is None:
            if positionals:  # Go has stopped reading flags by now: it is an argument
                positionals.append(arg)
                continue
            raise GoUsageError(f"flag provided but not defined: -{name}")
        if not flag.takes_value:
            if not has_value or value in _GO_TRUE:
                chosen[flag.target] = True
            elif value in _GO_FALSE:
                chosen[flag.target] = False
            else:
                raise GoUsageError(f'invalid boolean value "{value}" for -{name}: parse error')
            continue
        if not has_value:
            if i >= len(argv):
                raise GoUsageError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        chosen[flag.target] = _value(name, flag, value)
    out: list[str] = []
    for target, v in chosen.items():
        if v is True:
            out.append(target)
        elif isinstance(v, str):
            out.append(f"{target}={v}")
    if stop_at_positional:
        return out + rest
    if not any(isinstance(p, click.Argument) for p in cmd.params):
        return out  # Go ignores arguments a command does not read
    return out + ["--"] + positionals if positionals else out


def split_app_flags(argv: list[str], names: dict[str, str]) -> tuple[list[str], list[str]]:
    """The application's own flags before the command name (`-version`, `--help`, ...) in click's form,
    and the rest starting at the command name. `names` maps a Go name to its click spelling."""
    head: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        arg = argv[i]
        if arg == "--":
            return head, argv[i + 1:]
        name = arg.lstrip("-").split("=", 1)[0]
        head.append(names.get(name, arg))
        i += 1
    return head, argv[i:]


def version_text() -> str:
    """`--version`: Go's three lines first (scripts read `Version: 0.10.0`), then our own version."""
    from .. import GO_COMPAT_VERSION, __version__

    return (f"Version: {GO_COMPAT_VERSION}\nGit Hash: No githash provided\nBuild Date: No build date provided\n"
            f"tunasync-python: {__version__}")


def usage_failure(prog: str, message: str) -> str:
    """What a refused command line prints on stderr: urfave/cli's `Incorrect Usage:` line and a pointer."""
    return f"Incorrect Usage: {message}\nRun '{prog} --help' for usage."
