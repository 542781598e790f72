"""contrib/systemd units: parse, hardening present, commands our CLI accepts, `systemd-analyze verify`."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from .worker_harness import free_port

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "contrib" / "systemd"
BIN = Path(sys.executable).parent / "tunasync"
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
             "User": "tunasync", "CapabilityBoundingSet": ""}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """systemd's INI: sections, repeated keys allowed, `#`/`;` comments, no continuation lines used."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, {})
            continue
        assert section is not None and "=" in line, f"{path.name}:{n}: not a key=value line: {raw!r}"
        key, _, value = line.partition("=")
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("name", ["tunasync-manager.service", "tunasync-worker@.service", "tunasync-serve.service"])
def test_unit_is_hardened_and_runs_our_cli(name):
    unit = parse_unit(UNITS / name)
    assert set(unit) == {"Unit", "Service", "Install"}
    svc = unit["Service"]
    for key, value in HARDENING.items():
        assert svc.get(key) == [value], (name, key)
    assert "/var/lib/tunasync" in svc["ReadWritePaths"][0].split()
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    exec_start = svc["ExecStart"][0].split()
    assert exec_start[0] == "/usr/bin/tunasync"
    sub = exec_start[1]
    # Every flag in ExecStart exists in our CLI's help for that subcommand.
    if sub != "serve" or (REPO / "src/tunasync/cli/serve.py").exists():
        help_text = subprocess.run([str(BIN), sub, "--help"], capture_output=True, text=True, timeout=60).stdout
        for flag in (a for a in exec_start[2:] if a.startswith("-")):
            assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", help_text), (name, flag)


def test_worker_unit_specifics():
    svc = parse_unit(UNITS / "tunasync-worker@.service")["Service"]
    assert svc["Delegate"] == ["yes"]  # the cgroup hook makes one cgroup per job
    assert svc["ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # SIGHUP = reload (docs/compat.md §4.13)
    assert svc["KillMode"] == ["mixed"]  # SIGTERM to the worker, which halts its jobs itself
    assert "ProtectControlGroups" not in svc  # would make the delegated cgroup read-only
    assert "-c /etc/tunasync/worker-%i.conf" in svc["ExecStart"][0]
    assert "--with-systemd" in svc["ExecStart"][0]


def test_sysusers_creates_the_user():
    lines = [x for x in (UNITS / "tunasync.sysusers").read_text().splitlines() if x and not x.startswith("#")]
    assert lines == ['u tunasync - "tunasync mirror services" /var/lib/tunasync']


def test_systemd_analyze_verify(tmp_path):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS.glob("*.service"):
        name = unit.name.replace("@.", "@tuna.")
        # verify checks that ExecStart exists: point it at this checkout's entry point.
        (tmp_path / name).write_text(unit.read_text().replace("/usr/bin/tunasync", str(BIN)))
    res = subprocess.run([exe, "verify", "--man=no", *sorted(str(p) for p in tmp_path.glob("*.service"))],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr


@pytest.mark.parametrize("how", ["flag", "journal_stream"])
async def test_no_duplicate_timestamps_under_systemd(tmp_path, how):
    """journald stamps lines itself: `--with-systemd`, or JOURNAL_STREAM set by systemd, drops ours."""
    import os

    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(f'[server]\nport = {port}\n[files]\ndb_file = "{tmp_path}/db.sqlite"\nstatus_file = ""\n')
    out = tmp_path / "out.log"
    with open(out, "wb") as fh:  # noqa: ASYNC230 - handed to the child
        flags = ["--with-systemd"] if how == "flag" else []
        env = {**os.environ, **({"JOURNAL_STREAM": "8:12345"} if how == "journal_stream" else {})}
        proc = await asyncio.create_subprocess_exec(str(BIN), "manager", "-c", str(conf), *flags, "-v",
                                                    stdout=fh, stderr=fh, env=env)
        try:
            async with aiohttp.ClientSession() as s:
                for _ in range(600):
                    try:
                        async with s.get(f"http://127.0.0.1:{port}/ping") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.1)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
    lines = [x for x in out.read_text().splitlines() if x.strip()]
    assert lines, "the manager logged nothing at -v"
    for line in lines:
        assert re.match(r"^\[(DEBUG|INFO|NOTICE|WARN|ERROR)\] ", line), line
