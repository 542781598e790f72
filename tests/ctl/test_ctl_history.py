"""`tunasynctl history` and `tunasynctl logs` through the real manager (logs proxied from a stand-in worker)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from .ctlkit import CTL, CTL_TIMEOUT, ctl


@pytest.fixture
async def runs(stack):
    """debian on w1: a successful run, then a failed one (the manager records both)."""
    await stack.register("w1")
    await stack.post_status("w1", "debian", "pre-syncing")
    await stack.post_status("w1", "debian", "success", size="10G")
    await stack.post_status("w1", "debian", "pre-syncing")
    await stack.post_status("w1", "debian", "failed", error_msg="exit status 23: Partial transfer due to error")
    return stack


async def test_history_json_newest_first(env, runs):
    r = await ctl(env, "history", "-w", "w1", "debian", "--json")
    assert r.code == 0, r.err
    assert [run["status"] for run in r.json] == ["failed", "success"]
    assert list(r.json[0]) == ["name", "worker", "started", "ended", "status", "error_msg", "size"]
    assert r.json[0]["error_msg"] == "exit status 23: Partial transfer due to error"
    r = await ctl(env, "history", "debian", "-w", "w1", "--limit", "1", "--json")
    assert [run["status"] for run in r.json] == ["failed"]


async def test_history_table(env, runs):
    r = await ctl(env, "history", "-w", "w1", "debian", real=True)
    assert r.code == 0, r.err
    for text in ("debian @ w1", "Started", "Ended", "Duration", "Status", "Size", "Error", "success", "failed",
                 "exit status 23: Partial transfer due to error"):
        assert text in r.out
    lines = r.out.splitlines()
    assert [i for i, ln in enumerate(lines) if "failed" in ln][0] < [i for i, ln in enumerate(lines)
                                                                      if "success" in ln][0]


async def test_history_of_a_mirror_without_runs(env, runs):
    r = await ctl(env, "history", "-w", "w1", "ubuntu")
    assert (r.code, r.out) == (0, "No runs recorded for ubuntu on w1\n")


async def test_history_of_an_unknown_worker(env, runs):
    r = await ctl(env, "history", "-w", "nosuch", "debian")
    assert r.code == 1
    assert r.err.startswith("Failed to correctly get the run history from manager server: "
                            "HTTP status code is not 200: 400")
    assert "invalid workerID nosuch" in r.err


@pytest.fixture
async def logging_worker(stack, worker):
    await stack.register("w2", url=worker.url)
    worker.logs["debian"] = [b"line 1\n", b"line 2\n", b"line 3\n"]
    return worker


async def test_logs_prints_the_current_log(env, logging_worker):
    r = await ctl(env, "logs", "-w", "w2", "debian")
    assert (r.code, r.out) == (0, "line 1\nline 2\nline 3\n"), r.err
    assert logging_worker.follow_requests == [False]


async def test_logs_follow_streams_until_the_worker_ends(env, logging_worker):
    r = await ctl(env, "logs", "-w", "w2", "debian", "-f", real=True)
    assert (r.code, r.out) == (0, "line 1\nline 2\nline 3\n"), r.err
    assert logging_worker.follow_requests == [True]


async def test_logs_of_an_unknown_job(env, logging_worker):
    r = await ctl(env, "logs", "-w", "w2", "nosuch")
    assert r.code == 1
    assert r.err.startswith("Failed to get the log from manager server: HTTP status code is not 200: 404")


async def test_logs_follow_ends_cleanly_on_ctrl_c(env, logging_worker):
    logging_worker.endless.add("debian")
    proc = await asyncio.create_subprocess_exec(*CTL, "logs", "-w", "w2", "debian", "-f", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    seen = b""
    try:
        async with asyncio.timeout(CTL_TIMEOUT):
            while b"line 3\n" not in seen:
                chunk = await proc.stdout.read(100)
                assert chunk, "the stream ended before the log arrived"
                seen += chunk
            proc.send_signal(signal.SIGINT)
            rest, err = await proc.communicate()
    finally:
        # The manager's proxy only ends when the worker's stream does: end it so teardown is quick.
        logging_worker.endless.discard("debian")
    assert proc.returncode == 130
    assert (seen + rest) == b"line 1\nline 2\nline 3\n"
    assert b"Traceback" not in err
