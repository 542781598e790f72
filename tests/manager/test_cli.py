"""`tunasync manager` / `m`: --check output and exit codes, config errors, the lazy `migrate` slot."""

from __future__ import annotations

import importlib.util
import struct
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tests.ports import free_port
from tunasync.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_clean_config(tmp_path: Path) -> None:
    conf = tmp_path / "m.conf"
    conf.write_text(f'[files]\ndb_file = "{tmp_path / "t.db"}"\n')
    r = run("manager", "--check", "-c", str(conf))
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"{conf}: 0 error(s), 0 warning(s)"


def test_check_lists_every_problem(tmp_path: Path) -> None:
    conf = tmp_path / "m.conf"
    conf.write_text('[server]\nprot = 1\nport = "x"\n[files]\ndb_type = "bolt"\n[[auth.tokens]]\nrole = "god"\ntoken = "t"\n')
    r = run("m", "--check", "-c", str(conf))
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert f"warning: {conf}: server.prot: unknown key (ignored)" in lines
    assert any(line.startswith(f"error: {conf}: server.port: ") for line in lines)
    assert any(line.startswith(f"error: {conf}: auth.tokens[0].role: ") for line in lines)
    assert lines[-1] == f"{conf}: 2 error(s), 1 warning(s)"


def test_check_reports_go_database(tmp_path: Path) -> None:
    bolt = tmp_path / "tunasync.db"
    page = bytearray(4096)
    struct.pack_into("<I", page, 16, 0xED0CDAED)
    bolt.write_bytes(bytes(page) * 2)
    conf = tmp_path / "m.conf"
    conf.write_text(f'[files]\ndb_type = "bolt"\ndb_file = "{bolt}"\n')
    r = run("manager", "--check", "-c", str(conf))
    assert r.exit_code == 1
    assert f"error: {conf}: files.db_file: {bolt} holds a Go tunasync bolt database; run `tunasync manager migrate --from-bolt {bolt}` to import it" in r.output


def test_config_error_exits_1(tmp_path: Path) -> None:
    conf = tmp_path / "m.conf"
    conf.write_text("[server\n")
    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", "manager", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr.startswith(f"Error loading config: {conf}: malformed TOML")


def test_go_database_refused_at_startup(tmp_path: Path) -> None:
    d = tmp_path / "level"
    d.mkdir()
    (d / "CURRENT").write_text("MANIFEST-000001\n")
    (d / "MANIFEST-000001").write_bytes(b"x")
    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", "manager", "--db-type", "leveldb",
                        "--db-file", str(d), "--port", "1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "holds a Go tunasync leveldb database; while the Go manager still runs, import it with " \
           "`tunasync manager migrate --from-url" in p.stderr and "keeps paused and disabled states" in p.stderr
    assert sorted(x.name for x in d.iterdir()) == ["CURRENT", "MANIFEST-000001"]


def test_migrate_subcommand_slot() -> None:
    r = CliRunner().invoke(cli, ["manager", "--help"])
    assert r.exit_code == 0 and "migrate" in r.output and "--check" in r.output
    if importlib.util.find_spec("tunasync.cli.manager_migrate") is None:
        r = CliRunner().invoke(cli, ["manager", "migrate", "--from-bolt", "x.db"])
        assert r.exit_code == 1 and "not built yet" in r.output


def test_go_command_lines_start_the_manager(tmp_path: Path) -> None:
    """systemd/tunasync-manager.service of tuna/tunasync v0.10.0 (`manager -c FILE --with-systemd`) and the
    Go flag forms of the same line (cmd/tunasync/tunasync.go flags, read by Go's `flag` package)."""
    import os
    import signal
    import time
    import urllib.request

    conf = tmp_path / "manager.conf"
    conf.write_text(f'[server]\naddr = "127.0.0.1"\n[files]\ndb_file = "{tmp_path / "t.db"}"\nstatus_file = ""\n')
    for flags in (["-c", str(conf), "--with-systemd"], ["-config", str(conf), "-with-systemd"],
                  [f"--config={conf}", "-with-systemd=true", "-debug=false"]):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tunasync.cli.main", "manager", *flags, "-port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/jobs", timeout=5) as r:
                        assert r.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def test_version_prints_gos_lines_first() -> None:
    # cmd/tunasync/tunasync.go cli.VersionPrinter, internal/version.go Version = "0.10.0"
    for flag in ("--version", "-version", "-v"):
        p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", flag], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0
        assert p.stdout.splitlines()[:3] == ["Version: 0.10.0", "Git Hash: No githash provided",
                                             "Build Date: No build date provided"]


def test_bad_go_flag_is_incorrect_usage() -> None:
    p = subprocess.run([sys.executable, "-m", "tunasync.cli.main", "manager", "-nope"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("Incorrect Usage: flag provided but not defined: -nope\n")
