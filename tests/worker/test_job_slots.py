"""`concurrent` slots, force-start bypass and quirks 16/19 (docs/compat.md §5.2), with real subprocesses."""

from __future__ import annotations

import asyncio

from tests.worker.jobkit import ShProvider, Sink
from tests.worker.test_job import BLOCK, wait_until
from tunasync.worker.job import Ctrl, Job
from tunasync.worker.slots import Slots


def jobs_on(tmp_path, slots, n, script=BLOCK):
    sink = Sink()
    jobs = []
    for i in range(n):
        d = tmp_path / f"j{i}"
        d.mkdir()
        job = Job(ShProvider(f"j{i}", script, str(d)), slots, sink, restart_delay=0.01)
        job.start_task()
        jobs.append(job)
    return jobs, sink


def release(tmp_path, n):
    for i in range(n):
        (tmp_path / f"j{i}" / "release").touch()


async def test_five_jobs_three_slots_force_start_and_silent_stop(tmp_path):
    slots = Slots(3)
    jobs, sink = jobs_on(tmp_path, slots, 5)
    for j in jobs:
        await j.control(Ctrl.START)
    await wait_until(lambda: slots.running == 3 and sum(j._waiting_for_slot for j in jobs) == 2)
    waiting = [j for j in jobs if j._waiting_for_slot]
    assert slots.peak == 3
    assert len(sink.messages) == 3 * 2  # the waiting runs have sent nothing yet
    for j in waiting:
        await j.control(Ctrl.FORCE_START)
    await wait_until(lambda: slots.running == 5)
    assert slots.peak == 5
    release(tmp_path, 5)
    await wait_until(lambda: not any(j.running for j in jobs))
    assert sink.statuses().count("success") == 5

    # a normal start of all: the limit holds again (no bypass leaked)
    for i in range(5):
        (tmp_path / f"j{i}" / "release").unlink()
    slots.peak = 0
    for j in jobs:
        await j.control(Ctrl.START)
    await wait_until(lambda: slots.running == 3 and sum(j._waiting_for_slot for j in jobs) == 2)
    # stopping a job that waits for a slot removes it silently
    before = len(sink.messages)
    victim = next(j for j in jobs if j._waiting_for_slot)
    await victim.control(Ctrl.STOP)
    await wait_until(lambda: not victim.running)
    assert len(sink.messages) == before
    release(tmp_path, 5)
    await wait_until(lambda: not any(j.running for j in jobs))
    assert slots.peak == 3
    assert slots.running == 0


async def test_force_start_during_a_run_does_not_leak_to_the_next_run(tmp_path):
    """Quirk 19 fixed: the bypass granted while A holds its slot is dropped, so A's next run waits."""
    slots = Slots(1)
    (a, b), sink = jobs_on(tmp_path, slots, 2)
    await a.control(Ctrl.START)
    await wait_until(lambda: a.provider.is_running())
    await a.control(Ctrl.FORCE_START)  # A already holds the slot
    (tmp_path / "j0" / "release").touch()
    await wait_until(lambda: not a.running)
    await b.control(Ctrl.START)
    await wait_until(lambda: b.provider.is_running())
    (tmp_path / "j0" / "release").unlink()
    await a.control(Ctrl.START)
    await wait_until(lambda: a._waiting_for_slot)
    assert slots.running == 1 and a.provider.runs == 1
    (tmp_path / "j1" / "release").touch()
    (tmp_path / "j0" / "release").touch()
    await wait_until(lambda: not a.running and not b.running)
    assert a.provider.runs == 2 and slots.peak == 1


async def test_concurrent_zero_runs_only_force_started_jobs(tmp_path):
    """Quirk 16 kept: with concurrent = 0 a plain start waits forever; `start -f` runs the job."""
    slots = Slots(0)
    (job,), sink = jobs_on(tmp_path, slots, 1, script="true")
    await job.control(Ctrl.START)
    await wait_until(lambda: job._waiting_for_slot)
    assert sink.messages == []
    await job.control(Ctrl.FORCE_START)
    await sink.wait_for(3)
    assert sink.statuses() == ["pre-syncing", "syncing", "success"]
    await wait_until(lambda: not job.running)
    await job.control(Ctrl.START)
    await wait_until(lambda: job._waiting_for_slot)
    await job.control(Ctrl.HALT)  # halting a run that waits for a slot ends it silently
    await asyncio.wait_for(job.wait_exit(), 10)
    assert len(sink.messages) == 3
