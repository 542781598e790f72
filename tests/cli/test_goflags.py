"""Go's command-line syntax on the Go-facing commands, checked against the full list of Go's flags.

The flag lists are transcribed from tuna/tunasync v0.10.0 `cmd/tunasync/tunasync.go` (commands `manager`
and `worker`) and `cmd/tunasynctl/tunasynctl.go` (`commonFlags`, `cmdFlags`, `forceStartFlag` and each
command's own flags). They are parsed by urfave/cli v2.27.7 (`command.go` Command.Run -> `parse.go`
parseIter, short-option handling off) with Go's `flag` package (`flag.go` FlagSet.parseOne): one or
two dashes, `-name=value` or `-name value`, booleans only as `-name=value`, ints in
strconv.ParseInt(s, 0, 64) syntax, `--` ends the flags.
"""

from __future__ import annotations

from typing import Any

import click
import pytest

from tunasync.cli import ctl as ctl_cli
from tunasync.cli import main as main_cli
from tunasync.cli.goflags import GoUsageError, parse_go_int

# name, aliases, kind ("string" | "int" | "bool"), the click parameter it lands in
Flag = tuple[str, tuple[str, ...], str, str]

MANAGER: list[Flag] = [
    ("config", ("c",), "string", "config_file"), ("addr", (), "string", "addr"), ("port", (), "int", "port"),
    ("cert", (), "string", "cert"), ("key", (), "string", "key"), ("db-file", (), "string", "db_file"),
    ("db-type", (), "string", "db_type"), ("verbose", ("v",), "bool", "verbose"), ("debug", (), "bool", "debug"),
    ("with-systemd", (), "bool", "with_systemd"), ("pidfile", (), "string", "pidfile"),
]
WORKER: list[Flag] = [
    ("config", ("c",), "string", "config_file"), ("verbose", ("v",), "bool", "verbose"),
    ("debug", (), "bool", "debug"), ("with-systemd", (), "bool", "with_systemd"),
    ("pidfile", (), "string", "pidfile"), ("prof-path", (), "string", "prof_path"),
]
CTL_COMMON: list[Flag] = [
    ("config", ("c",), "string", "config"), ("manager", ("m",), "string", "manager"), ("port", ("p",), "int", "port"),
    ("ca-cert", (), "string", "ca_cert"), ("verbose", ("v",), "bool", "verbose"), ("debug", (), "bool", "debug"),
]
CMD_FLAGS: list[Flag] = [("worker", ("w",), "string", "worker")]
CTL: dict[str, list[Flag]] = {
    "list": CTL_COMMON + [("all", ("a",), "bool", "all_"), ("status", ("s",), "string", "status"),
                          ("format", ("f",), "string", "format_")],
    "flush": CTL_COMMON,
    "workers": CTL_COMMON,
    "rm-worker": CTL_COMMON + [("worker", ("w",), "string", "worker")],
    "set-size": CTL_COMMON + [("worker", ("w",), "string", "worker")],
    "start": CTL_COMMON + CMD_FLAGS + [("force", ("f",), "bool", "force")],
    "stop": CTL_COMMON + CMD_FLAGS,
    "disable": CTL_COMMON + CMD_FLAGS,
    "restart": CTL_COMMON + CMD_FLAGS,
    "reload": CTL_COMMON + CMD_FLAGS,
    "ping": CTL_COMMON + CMD_FLAGS,
}


def _command(prog: str, name: str) -> click.Command:
    if prog == "tunasync":
        cmd = main_cli.cli.get_command(click.Context(main_cli.cli), name)
    else:
        cmd = ctl_cli.cli.commands.get(name)
    assert cmd is not None
    return cmd


def _params(prog: str, name: str, go_args: list[str]) -> dict[str, Any]:
    """What the click command receives for a Go command line."""
    argv = main_cli.go_argv([name, *go_args]) if prog == "tunasync" else ctl_cli.go_argv([name, *go_args])
    assert argv[0] == name
    cmd = _command(prog, name)
    ctx = cmd.make_context(name, argv[1:], resilient_parsing=False)
    return dict(ctx.params)


def _forms(flag: Flag) -> list[tuple[list[str], Any]]:
    """Every way Go accepts to set the flag, with the value the command should then see."""
    name, aliases, kind, _ = flag
    forms: list[tuple[list[str], Any]] = []
    for n in (name, *aliases):
        for dash in ("-", "--"):
            if kind == "bool":
                forms += [([dash + n], True), ([f"{dash}{n}=true"], True), ([f"{dash}{n}=1"], True),
                          ([f"{dash}{n}=false"], False), ([dash + n, f"{dash}{n}=F"], False)]
            elif kind == "int":
                forms += [([dash + n, "14242"], 14242), ([f"{dash}{n}=14242"], 14242),
                          ([f"{dash}{n}=0x3792"], 0x3792), ([dash + n, "0o33622"], 14226), ([dash + n, "033622"], 14226)]
            else:
                forms += [([dash + n, "/etc/tunasync/x.conf"], "/etc/tunasync/x.conf"),
                          ([f"{dash}{n}=/etc/tunasync/x.conf"], "/etc/tunasync/x.conf"),
                          ([f"{dash}{n}={{{{.Name}}}}=x"], "{{.Name}}=x"),  # only the first `=` splits
                          ([dash + n, "-looks-like-a-flag"], "-looks-like-a-flag")]  # Go takes the next word
    return forms


CASES = ([("tunasync", "manager", f) for f in MANAGER] + [("tunasync", "worker", f) for f in WORKER]
         + [("tunasynctl", cmd, f) for cmd, flags in CTL.items() for f in flags])


@pytest.mark.parametrize(("prog", "command", "flag"), CASES, ids=[f"{p}-{c}-{f[0]}" for p, c, f in CASES])
def test_every_go_flag_in_every_go_form(prog: str, command: str, flag: Flag) -> None:
    for args, want in _forms(flag):
        params = _params(prog, command, args)
        got = params[flag[3]]
        if flag[2] == "bool" and want is False:
            assert not got, args
        else:
            assert got == want, args


def test_aliases_m_and_w_and_go_syntax() -> None:
    assert main_cli.go_argv(["w", "-config", "/etc/tunasync/worker.conf", "-with-systemd"]) == \
        ["w", "--config=/etc/tunasync/worker.conf", "--with-systemd"]
    assert main_cli.go_argv(["m", "-c=/etc/m.conf", "-port", "0x3792"]) == ["m", "--config=/etc/m.conf", "--port=14226"]


def test_click_used_to_misread_these() -> None:
    # issue: `-manager 127.0.0.1` was read as `-m anager`, `-f='{{.Name}}'` as the template `={{.Name}}`
    assert _params("tunasynctl", "workers", ["-manager", "127.0.0.1", "-p", "14242"])["manager"] == "127.0.0.1"
    p = _params("tunasynctl", "list", ["--port=14242", "--all", "-f={{.Name}}"])
    assert (p["port"], p["all_"], p["format_"]) == (14242, True, "{{.Name}}")


def test_positionals_and_the_end_of_flags() -> None:
    p = _params("tunasynctl", "start", ["-w", "w1", "-f", "debian", "a,b"])
    assert (p["worker"], p["force"], p["args"]) == ("w1", True, ("debian", "a,b"))
    # `--` ends the flags: what follows is an argument even if it looks like one; `-` alone is an argument
    p = _params("tunasynctl", "stop", ["-w=w1", "--", "-debian", "-"])
    assert p["args"] == ("-debian", "-")
    # after a positional, an unknown dash word is an argument (Go stopped reading flags there)
    p = _params("tunasynctl", "stop", ["-w", "w1", "debian", "-x"])
    assert p["args"] == ("debian", "-x")
    # the last of repeated flags wins, as with Go's FlagSet
    assert _params("tunasynctl", "list", ["-s", "a", "-status=b"])["status"] == "b"
    # `workers` reads no arguments: Go ignores extra ones, so do we
    assert _params("tunasynctl", "workers", ["extra"]).get("ignored") in ((), ("extra",))


@pytest.mark.parametrize(("args", "message"), [
    (["-x"], "flag provided but not defined: -x"),
    (["-all=maybe"], 'invalid boolean value "maybe" for -all: parse error'),
    (["-p", "port"], 'invalid value "port" for flag -p: parse error'),
    (["-port=99999999999999999999"], 'invalid value "99999999999999999999" for flag -port: value out of range'),
    (["-s"], "flag needs an argument: -s"),
    (["---all"], "bad flag syntax: ---all"),
    (["-=x"], "bad flag syntax: -=x"),
    (["-av"], "flag provided but not defined: -av"),  # urfave/cli v2: short-option handling is off
])
def test_go_flag_errors(args: list[str], message: str) -> None:
    with pytest.raises(GoUsageError) as exc:
        ctl_cli.go_argv(["list", *args])
    assert exc.value.message == message


def test_go_int_syntax() -> None:  # strconv.ParseInt(s, 0, 64)
    assert [parse_go_int(s) for s in ("14242", "+5", "-5", "0x37_92", "0b1", "0o17", "017", "0", "1_000")] == \
        [14242, 5, -5, 0x3792, 1, 15, 15, 0, 1000]
    assert [parse_go_int(s) for s in ("", "1__0", "_1", "1_", "08", "0x", "1.0", " 1")] == [None] * 8


def test_our_own_commands_keep_clicks_syntax() -> None:
    assert main_cli.go_argv(["serve", "-c", "x"]) == ["serve", "-c", "x"]
    assert main_cli.go_argv(["manager", "-config", "m.conf", "migrate", "--from-url", "u"]) == \
        ["manager", "--config=m.conf", "migrate", "--from-url", "u"]


def test_unknown_tunasync_command_is_no_help_topic_exit_3() -> None:
    # urfave/cli v2 help.go: the app's default action is the help command, which answers an unknown
    # command with Exit("No help topic for '...'", 3)
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", "wokrer", "-c", "x"], capture_output=True,
                       text=True, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (3, "", "No help topic for 'wokrer'\n")
    assert main_cli.go_argv(["help", "worker"]) == ["worker", "--help"]
