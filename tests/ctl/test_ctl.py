"""The tunasynctl executable itself: version, help, completion, argument errors (no manager needed)."""

from __future__ import annotations

import pytest

from .ctlkit import ctl, ctl_env, free_port


@pytest.fixture
def bare_env(home):
    """Pointed at a port where nothing listens."""
    return ctl_env(home)


@pytest.fixture
def dead(home) -> list[str]:
    return ["-m", "127.0.0.1", "-p", str(free_port())]


async def test_version_prints_gos_three_lines_first(bare_env):
    # Go: cmd/tunasynctl/tunasynctl.go cli.VersionPrinter with internal/version.go Version "0.10.0"
    for flag in ("--version", "-version", "-v"):
        r = await ctl(bare_env, flag, real=flag == "--version")
        assert r.code == 0
        lines = r.out.splitlines()
        assert lines[:3] == ["Version: 0.10.0", "Git Hash: No githash provided", "Build Date: No build date provided"]
        assert lines[3].startswith("tunasync-python: ")


async def test_bash_completion_lists_commands_and_flags(bare_env):
    r = await ctl(bare_env, "--generate-bash-completion", real=True)
    names = r.out.split()
    for name in ("list", "flush", "workers", "rm-worker", "set-size", "start", "stop", "disable", "restart",
                 "reload", "ping", "history", "logs", "help"):
        assert name in names
    r = await ctl(bare_env, "start", "--f", "--generate-bash-completion")
    assert r.out.split() == ["--force"]


async def test_help_command_shows_a_command(bare_env):
    r = await ctl(bare_env, "help", "set-size")
    assert r.code == 0 and "Set mirror size" in r.out and "--worker" in r.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list"], 'Usage Error: jobs command need at least one arguments or "--all" flag.'),
        (["rm-worker", "extra"], "Usage: tunasynctl -w <worker-id>"),
        (["rm-worker"], "Please specify the <worker-id>"),
        (["set-size", "-w", "w1", "debian"], "Usage: tunasynctl set-size -w <worker-id> <mirror> <size>"),
        (["start", "-w", "w1"], "Usage Error: cmd command receive just 1 required positional argument MIRROR "
                                "and 1 optional argument WORKER"),
        (["stop", "-w", "w1", "a", "b", "c"], "Usage Error: cmd command receive just 1 required positional "
                                               "argument MIRROR and 1 optional argument WORKER"),
        (["reload"], "Please specify the worker with -w <worker-id>"),
        (["history", "debian"], "Please specify the worker with -w <worker-id>"),
        (["logs", "-w", "w1"], "Usage: tunasynctl logs -w <worker-id> <mirror> [-f]"),
    ],
)
async def test_usage_errors_go_to_stderr_with_exit_1(bare_env, dead, args, message):
    r = await ctl(bare_env, *args, *dead)
    assert (r.code, r.out, r.err) == (1, "", message + "\n")


async def test_the_real_executable_reports_errors_the_same_way(bare_env, dead):
    r = await ctl(bare_env, "rm-worker", *dead, real=True)
    assert (r.code, r.out, r.err) == (1, "", "Please specify the <worker-id>\n")
    r = await ctl(bare_env, "list", "-a", *dead, real=True)
    assert r.code == 1 and r.err.startswith("Failed to correctly get information of all jobs from manager server")


async def test_unknown_flag_exits_1(bare_env):
    # Go (urfave/cli v2 command.go) prints "Incorrect Usage: <flag error>" and exits 0; we keep the text and
    # exit 1 (docs/compat.md: a typo in a cron line must not pass as success)
    r = await ctl(bare_env, "list", "--bogus")
    assert r.code == 1 and r.err.startswith("Incorrect Usage: flag provided but not defined: -bogus\n")


async def test_unknown_command_is_gos_no_help_topic_exit_3(bare_env):
    # urfave/cli v2 help.go helpCommand -> ShowCommandHelp: Exit("No help topic for '...'", 3)
    r = await ctl(bare_env, "lsit", "-a", real=True)
    assert (r.code, r.out, r.err) == (3, "", "No help topic for 'lsit'\n")


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["list", "-a"], "Failed to correctly get information of all jobs from manager server: Get \"http://"),
        (["list", "w1"], "Failed to correctly get information of jobs from at least one manager"),
        (["workers"], "Filed to correctly get informations frommanager server: Get \"http://"),
        (["flush"], "Failed to send request to manager: Delete \"http://"),
        (["rm-worker", "-w", "w1"], "Failed to send request to manager: Delete \"http://"),
        (["set-size", "-w", "w1", "debian", "1G"], "Failed to send request to manager: Post \"http://"),
        (["start", "-w", "w1", "debian"], "Failed to correctly send command: Post \"http://"),
        (["reload", "-w", "w1"], "Failed to correctly send command: Post \"http://"),
    ],
)
async def test_unreachable_manager_messages(bare_env, dead, args, prefix):
    r = await ctl(bare_env, *args, *dead)
    assert r.code == 1 and r.out == ""
    assert r.err.startswith(prefix), r.err


async def test_common_flags_work_after_positionals(bare_env, dead):
    r = await ctl(bare_env, "start", "debian", "-w", "w1", *dead)
    assert r.err.startswith(f'Failed to correctly send command: Post "http://127.0.0.1:{dead[3]}/cmd"'), r.err


async def test_config_errors_exit_1_naming_the_file(bare_env, home, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("manager_port = [1]\n")
    r = await ctl(bare_env, "workers", "-c", str(bad), real=True)
    assert r.code == 1 and str(bad) in r.err and "manager_port" in r.err
    r = await ctl(bare_env, "workers", "--ca-cert", str(tmp_path / "missing.pem"))
    assert r.code == 1 and r.err.startswith("error initializing HTTP client: ")


async def test_verbose_logs_the_manager_address(bare_env, dead):
    r = await ctl(bare_env, "workers", "-v", *dead, real=True)
    assert f"[INFO] Use manager address: http://127.0.0.1:{dead[3]}" in r.out
