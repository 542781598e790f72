"""The job state machine (docs/compat.md §5.2/§5.3) with real `sh -c` subprocesses: the exact message sequences."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.worker.jobkit import MissingBinaryProvider, RecordingHook, ShProvider, Sink
from tunasync.worker.job import Ctrl, Job, JobState
from tunasync.worker.run import go_duration
from tunasync.worker.slots import Slots

BLOCK = "echo running; while [ ! -e release ]; do sleep 0.02; done"


def make_job(tmp_path, script, *, name="job", slots=None, sink=None, **kw):
    p = ShProvider(name, script, str(tmp_path), **kw)
    sink = sink or Sink()
    job = Job(p, slots or Slots(3), sink, restart_delay=0.01)
    job.start_task()
    return job, sink


async def wait_until(cond, within=20):
    """Poll a condition (generous limit); no timing is asserted."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def trio(sink, start=0):
    return [(m.status.value, m.msg, m.schedule) for m in sink.messages[start:]]


async def test_normal_run_twice(tmp_path):
    job, sink = make_job(tmp_path, "echo hello", size="1.5G")
    await job.control(Ctrl.START)
    await sink.wait_for(3)
    assert trio(sink) == [("pre-syncing", "", False), ("syncing", "", False), ("success", "", True)]
    assert job.size == "1.5G"
    await wait_until(lambda: not job.running)  # a start while the run is still finishing is ignored
    await job.control(Ctrl.START)
    await sink.wait_for(6)
    assert sink.statuses()[3:] == ["pre-syncing", "syncing", "success"]
    with open(job.provider.log_file) as f:  # noqa: ASYNC230
        assert f.read() == "hello\nhello\n"


async def test_failing_command_retries_and_runs_failure_hooks(tmp_path):
    job, sink = make_job(tmp_path, "exit 1")
    record: list[str] = []
    job.provider.add_hook(RecordingHook(job.provider, record, "a."))
    job.provider.add_hook(RecordingHook(job.provider, record, "b."))
    await job.control(Ctrl.START)
    await sink.wait_for(5)
    assert trio(sink) == [
        ("pre-syncing", "", False),
        ("syncing", "", False), ("failed", "exit status 1", False),
        ("syncing", "", False), ("failed", "exit status 1", True),
    ]
    # pre_job/pre_exec forwards; post_exec/post_fail backwards; once per attempt
    attempt = ["a.pre_exec", "b.pre_exec", "b.post_exec", "a.post_exec", "b.post_fail", "a.post_fail"]
    assert record == ["a.pre_job", "b.pre_job", *attempt, *attempt]


async def test_retry_one_is_one_attempt(tmp_path):
    job, sink = make_job(tmp_path, "exit 4", retry=1)
    await job.control(Ctrl.START)
    await sink.wait_for(3)
    assert trio(sink) == [("pre-syncing", "", False), ("syncing", "", False), ("failed", "exit status 4", True)]


async def test_stop_while_syncing_then_start(tmp_path):
    job, sink = make_job(tmp_path, BLOCK)
    await job.control(Ctrl.START)
    await sink.wait_for(2)
    await wait_until(job.provider.is_running)
    await job.control(Ctrl.STOP)
    await sink.wait_for(3)
    assert trio(sink)[2] == ("failed", "killed by manager", False)
    await wait_until(lambda: not job.running)
    assert job.state is JobState.PAUSED
    await job.control(Ctrl.STOP)  # a second stop is ignored
    (tmp_path / "release").touch()
    await job.control(Ctrl.START)
    await sink.wait_for(6)
    assert sink.statuses() == ["pre-syncing", "syncing", "failed", "pre-syncing", "syncing", "success"]
    assert job.state is JobState.READY


async def test_restart_while_syncing_runs_again(tmp_path):
    job, sink = make_job(tmp_path, BLOCK)
    await job.control(Ctrl.START)
    await sink.wait_for(2)
    await wait_until(job.provider.is_running)
    await job.control(Ctrl.RESTART)
    await sink.wait_for(5)  # killed, then the new run's pre-syncing + syncing
    (tmp_path / "release").touch()
    await sink.wait_for(6)
    assert trio(sink)[2] == ("failed", "killed by manager", False)
    assert sink.statuses()[3:] == ["pre-syncing", "syncing", "success"]


async def test_disable_while_syncing_exits_task(tmp_path):
    job, sink = make_job(tmp_path, BLOCK)
    await job.control(Ctrl.START)
    await wait_until(job.provider.is_running)
    await job.control(Ctrl.DISABLE)
    await asyncio.wait_for(job.wait_exit(), 20)
    assert job.state is JobState.DISABLED and not job.alive
    assert sink.statuses() == ["pre-syncing", "syncing", "failed"]
    assert sink.messages[-1].msg == "killed by manager"
    assert await job.control(Ctrl.START) is False  # nobody listens any more


async def test_halt_while_syncing_reports_killed_and_runs_post_fail(tmp_path):
    job, sink = make_job(tmp_path, BLOCK)
    record: list[str] = []
    job.provider.add_hook(RecordingHook(job.provider, record))
    await job.control(Ctrl.START)
    await wait_until(job.provider.is_running)
    await job.control(Ctrl.HALT)
    await asyncio.wait_for(job.wait_exit(), 20)
    assert job.state is JobState.HALTING
    assert trio(sink)[-1] == ("failed", "killed by manager", False)
    assert record[-2:] == ["post_exec", "post_fail"]  # quirk 37 kept: failure hooks run on halt


async def test_timeout_per_attempt(tmp_path):
    job, sink = make_job(tmp_path, "sleep 30", name="x", timeout=1)
    await job.control(Ctrl.START)
    await sink.wait_for(5, within=30)
    assert trio(sink)[1:] == [
        ("syncing", "", False), ("failed", "x timeout after 1s", False),
        ("syncing", "", False), ("failed", "x timeout after 1s", True),
    ]


async def test_start_while_running_is_ignored_and_nothing_runs_without_start(tmp_path):
    job, sink = make_job(tmp_path, BLOCK)
    await asyncio.sleep(0.05)
    assert sink.messages == [] and job.provider.runs == 0
    await job.control(Ctrl.START)
    await wait_until(job.provider.is_running)
    await job.control(Ctrl.START)
    await job.control(Ctrl.START)
    (tmp_path / "release").touch()
    await sink.wait_for(3)
    await wait_until(lambda: not job.running)
    assert sink.statuses() == ["pre-syncing", "syncing", "success"] and job.provider.runs == 1


async def test_missing_binary_fails_before_starting(tmp_path):
    p = MissingBinaryProvider("nobin", "", str(tmp_path))
    sink = Sink()
    job = Job(p, Slots(1), sink)
    job.start_task()
    await job.control(Ctrl.START)
    await sink.wait_for(5)
    assert sink.messages[-1].msg == 'exec: "no-such-binary": executable file not found in $PATH'
    assert sink.statuses() == ["pre-syncing", "syncing", "failed", "syncing", "failed"]


@pytest.mark.parametrize("point,sequence", [
    ("pre_job", ["pre-syncing", "failed"]),
    ("pre_exec", ["pre-syncing", "failed"]),
    ("post_exec", ["pre-syncing", "syncing", "failed"]),
    ("post_success", ["pre-syncing", "syncing", "failed"]),
])
async def test_hook_failure_ends_run_and_reschedules(tmp_path, point, sequence):
    job, sink = make_job(tmp_path, "true")
    job.provider.add_hook(RecordingHook(job.provider, [], fail_at=(point,)))
    await job.control(Ctrl.START)
    await sink.wait_for(len(sequence))
    await wait_until(lambda: not job.running)
    assert sink.statuses() == sequence
    assert trio(sink)[-1] == ("failed", f"error exec hook {point.replace('_', '-')}: exit status 3", True)


async def test_post_fail_hook_failure(tmp_path):
    job, sink = make_job(tmp_path, "exit 2")
    job.provider.add_hook(RecordingHook(job.provider, [], fail_at=("post_fail",)))
    await job.control(Ctrl.START)
    await sink.wait_for(3)
    await wait_until(lambda: not job.running)
    assert trio(sink)[-1] == ("failed", "error exec hook post-fail: exit status 3", True)
    assert len(sink.messages) == 3  # no second attempt


async def test_grandchildren_of_a_killed_run_die_with_its_group(tmp_path):
    job, sink = make_job(tmp_path, "sleep 300 & echo $! > grandchild; wait")
    await job.control(Ctrl.START)
    await wait_until(lambda: (tmp_path / "grandchild").exists() and (tmp_path / "grandchild").read_text().strip())
    pid = int((tmp_path / "grandchild").read_text())
    await job.control(Ctrl.STOP)
    await sink.wait_for(3)

    def gone():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie reparented to init counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] == "Z"
    await wait_until(gone)


def test_go_duration_text():
    assert go_duration(3600) == "1h0m0s"
    assert go_duration(7) == "7s"
    assert go_duration(90) == "1m30s"
    assert go_duration(86400) == "24h0m0s"
    assert go_duration(1.5) == "1.5s"
    assert go_duration(0.5) == "500ms"
    assert go_duration(3725) == "1h2m5s"
