"""Golden JSON for the wire shapes (docs/compat.md §1): what web pages, tunasynctl and Go workers see."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from tunasync.models import (
    ClientCmd,
    CmdVerb,
    MirrorSchedules,
    MirrorStatus,
    SyncStatus,
    WorkerStatus,
    gojson,
    timefmt,
)

CST = timezone(timedelta(hours=8))


def test_web_status_matches_go_bytes():
    s = MirrorStatus(
        name="debian", worker="w1", is_master=True, status=SyncStatus.SUCCESS,
        last_update=datetime(2024, 5, 1, 12, 34, 56, tzinfo=CST),
        last_started=datetime(2024, 5, 1, 12, 30, 0, tzinfo=CST),
        last_ended=datetime(2024, 5, 1, 12, 34, 56, tzinfo=CST),
        next_schedule=datetime(2024, 5, 1, 14, 34, 56, tzinfo=CST),
        upstream="rsync://ftp.debian.org/debian/", size="1.33T", error_msg="x",
    )
    assert gojson.dumps(s.to_web().to_go()) == (
        '{"name":"debian","is_master":true,"status":"success",'
        '"last_update":"2024-05-01 12:34:56 +0800","last_update_ts":1714538096,'
        '"last_started":"2024-05-01 12:30:00 +0800","last_started_ts":1714537800,'
        '"last_ended":"2024-05-01 12:34:56 +0800","last_ended_ts":1714538096,'
        '"next_schedule":"2024-05-01 14:34:56 +0800","next_schedule_ts":1714545296,'
        '"upstream":"rsync://ftp.debian.org/debian/","size":"1.33T"}'
    )


def test_zero_time_in_both_forms():
    s = MirrorStatus(name="m")
    assert s.to_go()["next_schedule"] == "0001-01-01T00:00:00Z"
    web = s.to_web().to_go()
    assert web["next_schedule"] == "0001-01-01 00:00:00 +0000"
    assert web["next_schedule_ts"] == -62135596800


def test_full_status_field_order_and_rfc3339():
    s = MirrorStatus.model_validate({"status": "syncing", "name": "a", "last_update": "2024-05-01T12:34:56.789012345+08:00"})
    assert list(s.to_go()) == ["name", "worker", "is_master", "status", "last_update", "last_started",
                               "last_ended", "next_schedule", "upstream", "size", "error_msg"]
    assert s.to_go()["last_update"] == "2024-05-01T12:34:56.789012+08:00"
    assert MirrorStatus.model_validate(s.to_go()) == s


def test_round_trip_web_status_second_precision():
    t = datetime(2024, 5, 1, 12, 34, 56, 999000, tzinfo=CST)
    web = MirrorStatus(name="m", last_update=t).to_web().to_go()
    back = type(MirrorStatus(name="m").to_web()).from_go(web)
    assert back.last_update == t.replace(microsecond=0)
    assert web["last_update_ts"] == 1714538096


def test_unknown_status_is_an_error_with_go_text():
    with pytest.raises(ValidationError, match='Invalid status value: "weird"'):
        MirrorStatus.model_validate({"status": "weird"})


def test_wrong_type_is_an_error():
    with pytest.raises(ValidationError):
        MirrorStatus.model_validate({"is_master": [1]})


def test_unknown_or_missing_cmd_is_start():
    assert ClientCmd.model_validate({"cmd": "bogus"}).cmd is CmdVerb.START
    assert ClientCmd.model_validate({}).cmd is CmdVerb.START
    assert ClientCmd.model_validate({"cmd": "reload"}).cmd is CmdVerb.RELOAD


def test_empty_schedules_encode_as_null():
    assert gojson.dumps(MirrorSchedules().to_go()) == '{"schedules":null}'


def test_worker_status_json():
    w = WorkerStatus(id="w1", url="http://h:6000/")
    assert gojson.dumps(w.to_go()) == (
        '{"id":"w1","url":"http://h:6000/","token":"","last_online":"0001-01-01T00:00:00Z",'
        '"last_register":"0001-01-01T00:00:00Z"}'
    )


def test_go_escapes_html_characters():
    assert gojson.dumps({"a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e"}'


def test_negative_offset_and_utc():
    t = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=5, minutes=30)))
    assert timefmt.format_web(t) == "2024-01-02 03:04:05 -0530"
    assert timefmt.format_rfc3339(t) == "2024-01-02T03:04:05-05:30"
    assert timefmt.format_rfc3339(t.astimezone(timezone.utc)) == "2024-01-02T08:34:05Z"
    assert timefmt.parse_rfc3339("2024-01-02T08:34:05Z") == t


def test_go_string_form():
    assert timefmt.format_go_string(datetime(2024, 5, 1, 12, 34, 56, tzinfo=timezone.utc)) == "2024-05-01 12:34:56 +0000 UTC"
