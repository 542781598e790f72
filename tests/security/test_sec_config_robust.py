"""Issue 11, item 11: a hostile or broken config gives a clear error naming file and key, never a traceback.

Each case runs the real commands as subprocesses: `tunasync worker --check`, `tunasync manager
--check`, the startup of both (which must refuse with `Error loading config: FILE: KEY: reason`),
`tunasynctl` with `-c`, and `tunasync archive status -c`. Deep nesting used to blow Python's recursion
limit inside the TOML parser, a UTF-16 file died in the UTF-8 decoder, and a 64-bit interval
overflowed `timedelta`: all three printed tracebacks.

UTF-8 byte-order mark: skipped, as BurntSushi/toml does (github.com/BurntSushi/toml, parse.go,
`parse()`: "Read over BOM" drops a leading EF BB BF; its UTF-16 BOM is dropped and the NUL bytes
that follow are then refused as "probably using UTF-16").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER_OK = """
[global]
name = "w"
log_dir = "{tmp}/log"
mirror_dir = "{tmp}/m"
concurrent = 2
interval = 60
[manager]
api_base = "http://127.0.0.1:1"
[server]
hostname = "localhost"
listen_addr = "127.0.0.1"
listen_port = 1
[[mirrors]]
name = "a"
provider = "command"
command = "true"
upstream = "x"
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(cwd or "/nonexistent")}
    env.pop("TUNASYNC_TOKEN", None)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60, env=env,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def tunasync(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run("tunasync.cli.main", *args, cwd=cwd)


def no_traceback(p: subprocess.CompletedProcess) -> str:
    text = p.stdout + p.stderr
    assert "Traceback" not in text and "Error:" not in text.replace("Error loading config", ""), text
    return text


def worker_with(tmp: Path, replace: dict[str, str] | None = None, add: str = "") -> Path:
    text = WORKER_OK.format(tmp=tmp)
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    conf = tmp / "worker.conf"
    conf.write_text(text + add)
    return conf


DEEP = "a = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLE = "a = " + "{ b = " * 3000 + "1" + " }" * 3000 + "\n"


@pytest.mark.parametrize("body, reason", [
    (DEEP.encode(), "nested deeper than"),
    (DEEP_TABLE.encode(), "nested deeper than"),
    ("[global]\nname = \"w\"\n".encode("utf-16"), "UTF-16"),
    ("[global]\nname = \"w\"\n".encode("utf-16-le"), "NUL bytes"),
    (b"[global]\nname = \"\xff\xfe\"\n", "not UTF-8"),
])
def test_unreadable_toml_is_named_in_every_command(tmp_path, body, reason):
    conf = tmp_path / "bad.conf"
    conf.write_bytes(body)
    for cmd in (("worker", "--check", "-c", str(conf)), ("manager", "--check", "-c", str(conf))):
        p = tunasync(*cmd)
        text = no_traceback(p)
        assert p.returncode == 1 and f"error: {conf}: " in text and reason in text, text
    for cmd in (("worker", "-c", str(conf)), ("manager", "-c", str(conf))):
        p = tunasync(*cmd)
        assert p.returncode == 1 and p.stderr.startswith(f"Error loading config: {conf}: ") and reason in p.stderr, \
            no_traceback(p)
    p = run("tunasync.cli.ctl", "list", "--all", "-c", str(conf), cwd=tmp_path)
    assert p.returncode == 1 and f"{conf}: " in p.stderr and reason in p.stderr, no_traceback(p)
    p = tunasync("archive", "status", "-c", str(conf))
    assert p.returncode != 0 and str(conf) in p.stdout + p.stderr and reason in p.stdout + p.stderr, no_traceback(p)


def test_a_utf8_byte_order_mark_is_read_over(tmp_path):
    conf = worker_with(tmp_path)
    conf.write_bytes(b"\xef\xbb\xbf" + conf.read_bytes())
    p = tunasync("worker", "--check", "-c", str(conf))
    assert p.returncode == 0 and "0 error(s)" in no_traceback(p), p.stdout
    mconf = tmp_path / "manager.conf"
    mconf.write_bytes(b"\xef\xbb\xbf[server]\naddr = \"127.0.0.1\"\nport = 14242\n")
    p = tunasync("manager", "--check", "-c", str(mconf))
    assert p.returncode == 0 and "0 error(s), 0 warning(s)" in no_traceback(p), p.stdout


@pytest.mark.parametrize("replace, add, key, reason", [
    ({"interval = 60": "interval = 9223372036854775807"}, "", "global.interval", "at most"),
    ({}, "interval = 9223372036854775807\n", "mirrors[0].interval", "at most"),
    ({"concurrent = 2": "concurrent = 9223372036854775807"}, "", "global.concurrent", "at most"),
    ({"concurrent = 2": "concurrent = -1"}, "", "global.concurrent", "at least 0"),
    ({}, "timeout = 99999999999999\n", "mirrors[0].timeout", "at most"),
    ({}, "retry = -2\n", "mirrors[0].retry", "at least 0"),
    ({}, 'memory_limit = "9999999999T"\n', "mirrors[0].memory_limit", "at most"),
    ({}, "memory_limit = 9223372036854775807\n", "mirrors[0].memory_limit", "at most"),
    ({}, "keep_years = 1e300\n", "mirrors[0].keep_years", "at most"),
    ({}, "keep_years = nan\n", "mirrors[0].keep_years", "nan"),
    ({}, "copies = 9223372036854775807\n", "mirrors[0].copies", "at most"),
    ({}, "copies = -1\n", "mirrors[0].copies", "at least 0"),
    ({}, '[archive]\nbundle_size = "100T"\n', "archive.bundle_size", "at most"),
    ({}, "[archive]\nkeep_years = inf\n", "archive.keep_years", "at most"),
    ({}, "[archive]\ncopies = 0\n", "archive.copies", "at least 1"),
    ({}, "[archive]\ncache_budget = -5\n", "archive.cache_budget", "negative"),
    ({"listen_port = 1": "listen_port = 99999"}, "", "server.listen_port", "at most 65535"),
])
def test_absurd_worker_numbers_are_refused_by_key(tmp_path, replace, add, key, reason):
    conf = worker_with(tmp_path, replace, add)
    p = tunasync("worker", "--check", "-c", str(conf))
    text = no_traceback(p)
    assert p.returncode == 1 and f"error: {conf}: {key}: " in text and reason in text, text
    p = tunasync("worker", "-c", str(conf))
    assert p.returncode == 1 and p.stderr.startswith(f"Error loading config: {conf}: {key}: "), no_traceback(p)


@pytest.mark.parametrize("body, key", [
    ("[server]\nport = 9223372036854775807\n", "server.port"),
    ("[history]\nkeep = 9223372036854775807\n", "history.keep"),
    ("[history]\nkeep = -1\n", "history.keep"),
])
def test_absurd_manager_numbers_are_refused_by_key(tmp_path, body, key):
    conf = tmp_path / "manager.conf"
    conf.write_text(body)
    p = tunasync("manager", "--check", "-c", str(conf))
    assert p.returncode == 1 and f"error: {conf}: {key}: must be" in no_traceback(p), p.stdout
    p = tunasync("manager", "-c", str(conf))
    assert p.returncode == 1 and p.stderr.startswith(f"Error loading config: {conf}: {key}: "), no_traceback(p)


def test_absurd_ctl_port_is_refused_by_key(tmp_path):
    conf = tmp_path / "ctl.conf"
    conf.write_text("manager_port = 9223372036854775807\n")
    p = run("tunasync.cli.ctl", "list", "--all", "-c", str(conf), cwd=tmp_path)
    assert p.returncode == 1 and f"{conf}: manager_port: port" in p.stderr, no_traceback(p)
