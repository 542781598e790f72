"""Status precedence as pure functions (docs/compat.md §3.4(8), §3.5), with a fixed clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tunasync.manager.precedence import finished_run, merge_status, with_command, with_schedule, with_size
from tunasync.models import MirrorStatus, SyncStatus, timefmt

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
S = SyncStatus


def post(status: SyncStatus, **kw) -> MirrorStatus:
    return MirrorStatus(name="debian", worker="w1", status=status, **kw)


def test_first_post_without_record() -> None:
    new = merge_status(None, post(S.PRE_SYNCING, size="unknown"), NOW)
    assert (new.last_started, new.last_update, new.last_ended) == (NOW, timefmt.ZERO_TIME, timefmt.ZERO_TIME)


def test_timestamps_move_only_on_their_transitions() -> None:
    t1, t2, t3 = NOW, NOW + timedelta(seconds=1), NOW + timedelta(seconds=4)
    a = merge_status(None, post(S.SUCCESS), t1)
    assert (a.last_update, a.last_ended, a.last_started) == (t1, t1, timefmt.ZERO_TIME)
    b = merge_status(a, post(S.PRE_SYNCING), t2)
    assert (b.last_update, b.last_ended, b.last_started) == (t1, t1, t2)
    c = merge_status(b, post(S.SYNCING), t3)
    assert c.last_started == t2
    d = merge_status(c, post(S.FAILED, error_msg="boom"), t3)
    assert (d.last_update, d.last_ended, d.last_started, d.error_msg) == (t1, t3, t2, "boom")


def test_body_fields_win_including_zero_next_schedule() -> None:
    cur = post(S.SUCCESS, next_schedule=NOW, upstream="old", is_master=True)
    new = merge_status(cur, post(S.SYNCING, upstream="new"), NOW)
    assert (new.next_schedule, new.upstream, new.is_master) == (timefmt.ZERO_TIME, "new", False)


def test_size_rule() -> None:
    cur = post(S.SUCCESS, size="1.33T")
    assert merge_status(cur, post(S.SUCCESS, size="unknown"), NOW).size == "1.33T"
    assert merge_status(cur, post(S.SUCCESS, size=""), NOW).size == "1.33T"
    assert merge_status(cur, post(S.SUCCESS, size="2T"), NOW).size == "2T"
    assert merge_status(post(S.SUCCESS, size="unknown"), post(S.SUCCESS, size=""), NOW).size == ""
    assert with_size(cur, "unknown").size == "unknown"


def test_schedules_commands_and_runs() -> None:
    cur = post(S.SUCCESS, next_schedule=NOW)
    assert with_schedule(cur, NOW.astimezone(timezone.utc)) is None  # same instant, other zone
    assert with_schedule(cur, NOW + timedelta(hours=1)).next_schedule == NOW + timedelta(hours=1)
    assert with_command(cur, "stop").status == S.PAUSED
    assert with_command(None, "disable") == MirrorStatus(status=S.DISABLED)
    assert with_command(cur, "start") is None and with_command(cur, "ping") is None
    run = finished_run("w1", "debian", post(S.FAILED, last_started=NOW, error_msg="x"), NOW + timedelta(1))
    assert (run.started, run.ended, run.status, run.error_msg) == (NOW, NOW + timedelta(1), S.FAILED, "x")
    assert finished_run("w1", "debian", post(S.SYNCING), NOW) is None
