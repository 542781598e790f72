"""How tunasynctl decodes, re-encodes and templates the manager's JSON, as Go's tunasynctl does."""

from __future__ import annotations

import time

import pytest

from tunasync.cli.ctl_view import (
    STATUS_TYPE,
    WEB_TYPE,
    DecodeError,
    decode_statuses,
    decode_web,
    encode_web,
    status_fields,
)
from tunasync.gotemplate import render
from tunasync.models import MirrorStatus, gojson

WEB = {
    "name": "debian",
    "is_master": True,
    "status": "success",
    "last_update": "2024-05-01 12:34:56 +0800",
    "last_update_ts": 1714538096,
    "last_started": "2024-05-01 12:30:00 +0800",
    "last_started_ts": 1714537800,
    "last_ended": "2024-05-01 12:34:56 +0800",
    "last_ended_ts": 1714538096,
    "next_schedule": "0001-01-01 00:00:00 +0000",
    "next_schedule_ts": -62135596800,
    "upstream": "rsync://ftp.debian.org/debian/",
    "size": "1.33T",
}


@pytest.fixture
def shanghai(monkeypatch):
    """Run with the local zone Asia/Shanghai (CST, +0800), as a TUNA operator would."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_web_status_round_trips_byte_for_byte():
    items = decode_web([WEB])
    assert gojson.dumps_indent(encode_web(items)) == gojson.dumps_indent([WEB])


def test_null_and_empty_lists_stay_what_they_were():
    assert gojson.dumps_indent(encode_web(decode_web(None))) == "null"
    assert gojson.dumps_indent(encode_web(decode_web([]))) == "[]"


def test_bad_status_or_time_fails_to_decode():
    with pytest.raises(DecodeError, match='Invalid status value: "weird"'):
        decode_web([dict(WEB, status="weird")])
    with pytest.raises(DecodeError):
        decode_web([dict(WEB, last_update="yesterday")])
    with pytest.raises(DecodeError, match="cannot unmarshal"):
        decode_web({"not": "a list"})


def test_template_fields_print_like_go_in_the_local_zone(shanghai):
    item = decode_web([WEB])[0]
    out = render("{{.Name}}|{{.IsMaster}}|{{.Status}}|{{.LastUpdate}}|{{.LastUpdateTs}}|{{.Size}}", item,
                 type_name=WEB_TYPE)
    assert out == "debian|true|success|2024-05-01 12:34:56 +0800 CST|2024-05-01 12:34:56 +0800 CST|1.33T"
    # the zero time's text has an offset Shanghai did not use in year 1: Go makes a nameless zone
    assert render("{{.Scheduled}}", item) == "0001-01-01 00:00:00 +0000 +0000"
    assert render("{{.LastUpdateTs.Unix}} {{.ScheduledTs.Unix}}", item) == "1714538096 -62135596800"
    # checked against Go 1.19: time.Unix(-62135596800, 0) in Asia/Shanghai is local mean time
    assert render("{{.ScheduledTs}}", item) == "0001-01-01 08:05:43 +0805 LMT"


def test_template_times_in_another_zone_keep_their_offset(shanghai):
    item = decode_web([dict(WEB, last_update="2024-05-01 06:34:56 +0200")])[0]
    assert render("{{.LastUpdate}}", item) == "2024-05-01 06:34:56 +0200 +0200"


def test_utc_machine_names_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        item = decode_web([dict(WEB, last_update="2024-05-01 04:34:56 +0000")])[0]
        assert render("{{.LastUpdate}} {{.Scheduled}}", item) == (
            "2024-05-01 04:34:56 +0000 UTC 0001-01-01 00:00:00 +0000 UTC"
        )
    finally:
        monkeypatch.undo()
        time.tzset()


def test_worker_list_fields_use_go_names(shanghai):
    s = MirrorStatus.model_validate({
        "name": "debian", "worker": "w1", "is_master": False, "status": "failed",
        "last_update": "2024-05-01T12:34:56.5+08:00", "last_started": "0001-01-01T00:00:00Z",
        "last_ended": "2024-05-01T04:34:56Z", "next_schedule": "0001-01-01T00:00:00Z",
        "upstream": "u", "size": "1G", "error_msg": "exit status 23",
    })
    out = render("{{.Name}}@{{.Worker}} {{.IsMaster}} {{.Status}} [{{.ErrorMsg}}] {{.LastUpdate}} | "
                 "{{.LastEnded}} | {{.Scheduled}}", status_fields(s), type_name=STATUS_TYPE)
    assert out == ("debian@w1 false failed [exit status 23] 2024-05-01 12:34:56.5 +0800 CST | "
                   "2024-05-01 04:34:56 +0000 UTC | 0001-01-01 00:00:00 +0000 UTC")


def test_worker_list_decoding():
    assert decode_statuses(None) is None
    [s] = decode_statuses([{"name": "a", "worker": "w", "status": "syncing"}])
    assert s.name == "a" and s.status.value == "syncing"
    with pytest.raises(DecodeError):
        decode_statuses([{"name": "a", "status": "bogus"}])


def test_reencoding_escapes_html_characters_like_go():
    items = decode_web([dict(WEB, upstream="rsync://a.example/x&y<z>/")])
    assert '"upstream": "rsync://a.example/x\\u0026y\\u003cz\\u003e/"' in gojson.dumps_indent(encode_web(items))


def test_round_trip_holds_in_a_zone_with_local_mean_time(shanghai):
    items = decode_web([WEB])
    assert gojson.dumps_indent(encode_web(items)) == gojson.dumps_indent([WEB])
