"""Cron parsing and next-fire arithmetic with fixed datetimes (no sleeping), DST included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tunasync.worker.cron import next_fire, parse, zone

BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")


def fire(expr: str, after: datetime, tz=UTC) -> datetime:
    return next_fire(parse(expr), after, tz)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


# --- parsing -------------------------------------------------------------------------------------


def test_parse_fields_ranges_steps_lists_and_names():
    s = parse("0,30 */6 1-7 JAN-mar,dec mon-fri")
    assert s.minutes == {0, 30}
    assert s.hours == {0, 6, 12, 18}
    assert s.days == set(range(1, 8))
    assert s.months == {1, 2, 3, 12}
    assert s.weekdays == {1, 2, 3, 4, 5}
    assert parse("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    assert parse("5/20 * * * *").minutes == {5, 25, 45}
    assert parse("10-40/15 * * * *").minutes == {10, 25, 40}


@pytest.mark.parametrize("macro,expr", [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"),
                                        ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"),
                                        ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *")])
def test_macros(macro, expr):
    a, b = parse(macro), parse(expr)
    assert (a.minutes, a.hours, a.days, a.months, a.weekdays) == (b.minutes, b.hours, b.days, b.months, b.weekdays)


@pytest.mark.parametrize("expr,field", [
    ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day-of-month"),
    ("* * * 13 *", "month"), ("* * * * 8", "day-of-week"), ("* * * FOO *", "month"),
    ("*/0 * * * *", "minute"), ("5-1 * * * *", "minute"), ("1,,2 * * * *", "minute"),
    ("x * * * *", "minute"), ("0 0 30 2 *", "day-of-month"),
])
def test_bad_field_is_named(expr, field):
    with pytest.raises(ValueError, match=field):
        parse(expr)


@pytest.mark.parametrize("expr", ["", "* * * *", "* * * * * *", "@reboot", "@often"])
def test_wrong_shape(expr):
    with pytest.raises(ValueError):
        parse(expr)


def test_zone_lookup():
    assert zone("Europe/Berlin") == BERLIN
    assert zone("") is not None
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")


# --- plain arithmetic ----------------------------------------------------------------------------


def test_strictly_after():
    assert fire("0 */6 * * *", utc(2024, 5, 1, 6, 0)) == utc(2024, 5, 1, 12, 0)
    assert fire("0 */6 * * *", utc(2024, 5, 1, 5, 59, 59, 999999)) == utc(2024, 5, 1, 6, 0)
    assert fire("* * * * *", utc(2024, 5, 1, 6, 0, 30)) == utc(2024, 5, 1, 6, 1)


def test_rollovers():
    assert fire("0 0 * * *", utc(2024, 12, 31, 23, 59)) == utc(2025, 1, 1)
    assert fire("0 0 31 * *", utc(2024, 4, 1)) == utc(2024, 5, 31)  # April has no 31st
    assert fire("0 0 29 2 *", utc(2024, 3, 1)) == utc(2028, 2, 29)  # next leap day
    assert fire("@yearly", utc(2024, 1, 1)) == utc(2025, 1, 1)


def test_vixie_dom_dow_or():
    # 13th of the month OR any Friday: from Mon 2024-05-06 the Friday 10th comes first.
    assert fire("0 0 13 * 5", utc(2024, 5, 6)) == utc(2024, 5, 10)
    assert fire("0 0 13 * 5", utc(2024, 5, 11)) == utc(2024, 5, 13)
    # A `*`-prefixed field means AND: Fridays that are also odd days.
    assert fire("0 0 */2 * 5", utc(2024, 5, 6)) == utc(2024, 5, 17)


def test_result_is_in_the_given_zone():
    got = fire("30 8 * * *", utc(2024, 5, 1, 12), NY)
    assert got.tzinfo == NY and (got.hour, got.minute) == (8, 30)
    assert got == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)  # 12:00 UTC is 08:00 EDT


def test_needs_aware_datetime():
    with pytest.raises(ValueError):
        fire("* * * * *", datetime(2024, 1, 1))


# --- daylight saving -----------------------------------------------------------------------------


def test_spring_forward_gap_fires_at_gap_end_berlin():
    # 2024-03-31: 02:00 CET -> 03:00 CEST; 02:30 does not exist and fires at 03:00 CEST (01:00 UTC).
    got = fire("30 2 * * *", datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN), BERLIN)
    assert got == utc(2024, 3, 31, 1, 0)
    assert (got.hour, got.minute) == (3, 0)
    # ...and the next day it is back at 02:30 local.
    assert fire("30 2 * * *", got, BERLIN) == datetime(2024, 4, 1, 2, 30, tzinfo=BERLIN)


def test_spring_forward_several_slots_in_gap_fire_once():
    after = datetime(2024, 3, 31, 1, 50, tzinfo=BERLIN)
    first = fire("*/15 2,3 * * *", after, BERLIN)
    assert first == utc(2024, 3, 31, 1, 0)  # 03:00 CEST: all of 02:00..02:45 collapse here
    second = fire("*/15 2,3 * * *", first, BERLIN)
    assert second == utc(2024, 3, 31, 1, 15)  # 03:15 CEST, no repeats of the gap slots


def test_spring_forward_new_york():
    # 2024-03-10: 02:00 EST -> 03:00 EDT.
    got = fire("15 2 * * *", datetime(2024, 3, 9, 23, 0, tzinfo=NY), NY)
    assert got == utc(2024, 3, 10, 7, 0)  # 03:00 EDT
    assert got.utcoffset() == timedelta(hours=-4)


def test_fall_back_ambiguous_fires_once_at_first_occurrence_berlin():
    # 2024-10-27: 03:00 CEST -> 02:00 CET; 02:30 happens at 00:30 UTC and again at 01:30 UTC.
    after = datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN)
    got = fire("30 2 * * *", after, BERLIN)
    # PEP 495: an ambiguous local time never compares == across zones, so compare in UTC.
    assert got.astimezone(UTC) == utc(2024, 10, 27, 0, 30)
    assert got.utcoffset() == timedelta(hours=2)
    assert fire("30 2 * * *", got, BERLIN) == datetime(2024, 10, 28, 2, 30, tzinfo=BERLIN)


def test_fall_back_hourly_skips_the_repeated_hour():
    got = []
    t = utc(2024, 10, 26, 23, 30)  # 01:30 CEST
    for _ in range(4):
        t = fire("0 * * * *", t, BERLIN)
        got.append(t.astimezone(UTC))
    # 02:00 CEST, (02:00 CET skipped), 03:00 CET, 04:00 CET, 05:00 CET
    assert got == [utc(2024, 10, 27, 0), utc(2024, 10, 27, 2), utc(2024, 10, 27, 3), utc(2024, 10, 27, 4)]


def test_fall_back_after_inside_second_occurrence():
    # Asked during the repeated hour (01:40 EST, second 01:40), a 01:50 job already fired at 01:50 EDT.
    after = datetime(2024, 11, 3, 1, 40, fold=1, tzinfo=NY)
    assert after.utcoffset() == timedelta(hours=-5)
    assert fire("50 1 * * *", after, NY) == datetime(2024, 11, 4, 1, 50, tzinfo=NY)
    assert fire("0 2 * * *", after, NY) == utc(2024, 11, 3, 7, 0)  # 02:00 EST


def test_daily_every_day_across_both_transitions_new_york():
    t = datetime(2024, 3, 8, 12, tzinfo=NY)
    seen = []
    for _ in range(4):
        t = fire("0 6 * * *", t, NY)
        seen.append((t.day, t.hour))
    assert seen == [(9, 6), (10, 6), (11, 6), (12, 6)]


# --- in a worker config (the loader calls parse/zone) ---------------------------------------------

WORKER_CONF = """
[global]
name = "w"
log_dir = "/tmp/tunasync-cron-test/{{{{.Name}}}}"
mirror_dir = "/tmp/tunasync-cron-test"
concurrent = 1
interval = 60
[manager]
api_base = "http://127.0.0.1:14242"
[server]
hostname = "127.0.0.1"
listen_addr = "127.0.0.1"
listen_port = 6000
[[mirrors]]
name = "m"
provider = "command"
command = "true"
upstream = "https://u/"
{extra}
"""


@pytest.mark.parametrize("extra,key,reason", [
    ('cron = "61 * * * *"', "cron", "minute field"),
    ('cron = "0 0 30 2 *"', "cron", "never occurs"),
    ('cron = "@daily"\ntimezone = "Mars/Olympus"', "timezone", "unknown time zone"),
    ('cron = "@daily"\ninterval = 30', "cron", "interval"),
])
def test_worker_config_errors_name_file_and_key(tmp_path, extra, key, reason):
    from tunasync.errors import ConfigError
    from tunasync.worker.config import load_worker_config

    conf = tmp_path / "worker.conf"
    conf.write_text(WORKER_CONF.format(extra=extra))
    with pytest.raises(ConfigError) as ei:
        load_worker_config(conf)
    assert ei.value.file == str(conf)
    assert ei.value.key.endswith(key), ei.value.key
    assert reason in ei.value.reason


def test_worker_config_accepts_cron_with_zone(tmp_path):
    from tunasync.worker.config import load_worker_config

    conf = tmp_path / "worker.conf"
    conf.write_text(WORKER_CONF.format(extra='cron = "0 */6 * * *"\ntimezone = "Europe/Berlin"'))
    cfg = load_worker_config(conf)
    assert cfg.mirrors[0].cron == "0 */6 * * *" and cfg.mirrors[0].timezone == "Europe/Berlin"


async def test_a_real_worker_reports_the_cron_fire_time_as_next_schedule(tmp_path):
    """After a run, the worker queues the job at the next cron fire and the manager shows it in /jobs."""
    import aiohttp

    from .manager_harness import running_manager
    from .worker_harness import free_port, wait_status, worker_conf, worker_process

    async with running_manager(tmp_path, free_port()) as m, aiohttp.ClientSession() as s:
        conf = worker_conf(tmp_path, "cronworker", m.url, free_port(), "echo ok",
                           extra_mirror='cron = "0 0 1 1 *"\ntimezone = "Asia/Tokyo"')
        text = conf.read_text().replace("interval = 60\n", "")
        conf.write_text(text)
        log = tmp_path / "worker.log"
        async with worker_process(conf, log) as proc:
            await wait_status(s, m.url, "pymirror", "success", proc=proc, log=log)
            tokyo = ZoneInfo("Asia/Tokyo")
            expect = next_fire(parse("0 0 1 1 *"), datetime.now(UTC), tokyo)
            import time
            deadline = time.monotonic() + 30
            while True:
                async with s.get(m.url + "/jobs") as r:
                    job = next(j for j in await r.json() if j["name"] == "pymirror")
                if job["next_schedule_ts"] > 0:
                    break
                assert time.monotonic() < deadline, job
                await asyncio.sleep(0.1)
            assert job["next_schedule_ts"] == int(expect.timestamp())
