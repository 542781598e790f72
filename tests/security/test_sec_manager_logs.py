"""Item 14: names a client sends cannot forge or repaint lines of the manager's log.

Before: a mirror name (or worker ID) holding `\\n` and ANSI escapes was logged raw, so a client could
append a line that looks like the manager's own (`[..][NOTICE] ...`) and send escapes to the terminal.
The manager here is a real `tunasync manager` process; its stdout is the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import aiohttp

from .mgrkit_sec import call, free_port, registration, status_msg

FORGED = "[24-01-01 00:00:00][NOTICE] Worker root registered"


async def _wait_up(s: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            raise AssertionError("manager exited")
        try:
            async with s.get(url + "/ping") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("manager did not start")


async def test_names_cannot_forge_manager_log_lines(tmp_path):
    port = free_port()
    conf = tmp_path / "manager.conf"
    conf.write_text(f'[server]\naddr = "127.0.0.1"\nport = {port}\n[files]\ndb_type = "sqlite"\n'
                    f'db_file = "{tmp_path}/m.sqlite"\nstatus_file = ""\n')
    out = tmp_path / "manager.log"
    url = f"http://127.0.0.1:{port}"
    with open(out, "wb") as fh:  # noqa: ASYNC230 - a log file handed to the child
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from tunasync.cli.main import main; main()", "manager", "-c", str(conf),
            stdout=fh, stderr=fh, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        async with aiohttp.ClientSession() as s:
            await _wait_up(s, url, proc)
            bad_worker = "w1\n" + FORGED.replace("root", "w0") + "\x1b[2K"
            code, _, _ = await call(s, "POST", f"{url}/workers", registration(bad_worker, "http://127.0.0.1:9/"))
            assert code == 400
            code, _, _ = await call(s, "POST", f"{url}/workers", registration("w1", "http://127.0.0.1:9/"))
            assert code == 200
            for name in ("debian\n" + FORGED + "\x1b[31m", "debian\r" + FORGED, "deb\x1b]0;pwned\x07ian",
                         "deb\u2028" + FORGED):
                code, body, _ = await call(s, "POST", f"{url}/workers/w1/jobs/debian", status_msg(name, "w1"))
                assert code == 400 and "mirror name" in body["error"], (name, body)
                code, body, _ = await call(s, "POST", f"{url}/cmd",
                                           {"cmd": "stop", "worker_id": "w1", "mirror_id": name})
                assert code == 400, (name, body)
            code, _, _ = await call(s, "POST", f"{url}/workers/w1/jobs/debian", status_msg("debian", "w1"))
            assert code == 200
    finally:
        proc.terminate()
        await proc.wait()
    log = out.read_bytes()
    assert b"Job [debian] @<w1> success" in log  # the log works
    assert b"\x1b" not in log and b"\r" not in log and "\u2028".encode() not in log
    assert not [line for line in log.decode().splitlines() if FORGED in line], log.decode()


def test_log_arguments_are_escaped():
    """Whatever reaches a manager log call (old database records, request paths) is printed escaped."""
    from tunasync.log import GoFormatter, escape_filter

    rec = logging.LogRecord("tunasync.manager", logging.INFO, __file__, 1, "Job [%s] @<%s> %s",
                            ("a\nb\x1b[2K", "w\u2028", 7), None)
    assert escape_filter(rec)
    line = GoFormatter(systemd=True).format(rec)
    assert line == "[INFO] Job [a\\nb\\x1b[2K] @<w\\u2028> 7"
