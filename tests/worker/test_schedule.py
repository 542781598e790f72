"""The schedule queue and next-run arithmetic (docs/compat.md §4.10), with fixed datetimes and no sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tunasync.models import timefmt
from tunasync.worker.schedule import RunSpec, ScheduleQueue, initial_run, next_run

TZ = timezone(timedelta(hours=8))
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=TZ)


def test_pop_is_none_when_empty():
    assert ScheduleQueue().pop_due(T0) is None


def test_pop_only_after_the_due_time():
    q = ScheduleQueue()
    q.add("debian", T0 + timedelta(seconds=10))
    assert q.pop_due(T0) is None
    assert q.pop_due(T0 + timedelta(seconds=10)) is None  # strictly before now
    assert q.pop_due(T0 + timedelta(seconds=10, microseconds=1)) == "debian"
    assert q.pop_due(T0 + timedelta(hours=1)) is None
    assert len(q) == 0


def test_at_most_one_per_pop_earliest_first():
    q = ScheduleQueue()
    q.add("b", T0)
    q.add("a", T0)  # same instant: both kept (Go's skiplist would drop one)
    q.add("c", T0 - timedelta(minutes=1))
    later = T0 + timedelta(seconds=1)
    assert [q.pop_due(later), q.pop_due(later), q.pop_due(later), q.pop_due(later)] == ["c", "a", "b", None]


def test_re_adding_replaces_the_entry():
    q = ScheduleQueue()
    q.add("debian", T0)
    q.add("debian", T0 + timedelta(hours=2))
    assert len(q) == 1
    assert q.entries() == [("debian", T0 + timedelta(hours=2))]
    assert q.pop_due(T0 + timedelta(minutes=1)) is None
    q.add("debian", T0 - timedelta(hours=1))
    assert q.pop_due(T0) == "debian"


def test_remove_by_name():
    q = ScheduleQueue()
    q.add("a", T0)
    q.add("b", T0 + timedelta(seconds=1))
    assert q.remove("a") is True
    assert q.remove("a") is False
    assert "a" not in q and "b" in q
    assert q.pop_due(T0 + timedelta(hours=1)) == "b"


def test_entries_sorted_for_the_schedules_message():
    q = ScheduleQueue()
    q.add("z", T0)
    q.add("y", T0 + timedelta(seconds=5))
    q.add("x", T0 - timedelta(seconds=5))
    assert [n for n, _ in q.entries()] == ["x", "z", "y"]


def test_many_replacements_stay_consistent():
    q = ScheduleQueue()
    for i in range(1000):
        q.add(f"m{i % 10}", T0 + timedelta(seconds=i))
    assert len(q) == 10
    assert q.get("m3") == T0 + timedelta(seconds=993)
    popped = [q.pop_due(T0 + timedelta(hours=1)) for _ in range(11)]
    assert popped[:10] == [f"m{i}" for i in range(10)] and popped[10] is None


def test_next_run_is_now_plus_interval():
    assert next_run(T0, RunSpec(timedelta(minutes=120))) == T0 + timedelta(hours=2)
    assert next_run(T0, RunSpec(timedelta(0))) == T0  # quirk 17 kept: interval 0 re-runs at once


def test_next_run_from_cron():
    cron = pytest.importorskip("tunasync.worker.cron")
    spec = RunSpec(timedelta(minutes=120), cron.parse("0 */6 * * *"), timezone.utc)
    assert next_run(datetime(2024, 5, 1, 7, 30, tzinfo=timezone.utc), spec) == datetime(
        2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_initial_run_from_the_manager_record():
    spec = RunSpec(timedelta(minutes=60))
    assert initial_run(T0, timefmt.ZERO_TIME, spec) == T0  # never synced: due at once
    last = T0 - timedelta(minutes=20)
    assert initial_run(T0, last, spec) == last + timedelta(minutes=60)
