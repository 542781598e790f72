"""The hot-path encoder writes exactly Go's JSON, the same bytes as the shared models' `to_go`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tunasync.manager.codec import DecodeError, decode_status, encode
from tunasync.models import MirrorStatus, SyncStatus, WorkerStatus, gojson, timefmt

T = datetime(2024, 5, 1, 12, 34, 56, 789000, tzinfo=timezone(timedelta(hours=8)))

SAMPLES = [
    MirrorStatus(),
    MirrorStatus(name="debian", worker="w1", is_master=True, status=SyncStatus.SUCCESS, last_update=T,
                 last_started=T - timedelta(minutes=5), last_ended=T, next_schedule=T.astimezone(timezone.utc),
                 upstream="rsync://a/<b>&c", size="1.33T", error_msg="exit status 23: 部分 \u2028 \"quoted\""),
    MirrorStatus(name="x", status=SyncStatus.PRE_SYNCING, last_started=timefmt.parse_rfc3339("2024-01-01T00:00:00.123456789-05:30")),
    WorkerStatus(),
    WorkerStatus(id="w<1>", url="https://h:6000/", token="t&k", last_online=T, last_register=T),
]


@pytest.mark.parametrize("record", SAMPLES)
def test_same_bytes_as_models(record) -> None:
    assert encode(record) == gojson.dumps(record.to_go())


BODIES = [
    {},
    {"name": "debian", "worker": "w1", "is_master": True, "status": "pre-syncing", "last_update": "0001-01-01T00:00:00Z",
     "last_started": "2024-05-01T12:34:56.123456789+08:00", "last_ended": "2024-05-01T04:34:56Z",
     "next_schedule": "2024-05-01T12:34:56+08:00", "upstream": "u", "size": "1G", "error_msg": "e", "extra": [1]},
    {"name": "x", "status": None, "size": None},
]


@pytest.mark.parametrize("body", BODIES)
def test_decode_matches_model_validation(body) -> None:
    assert decode_status(body) == MirrorStatus.model_validate({k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize("body,field", [
    ({"name": 3}, "name"), ({"is_master": "yes"}, "is_master"), ({"status": "exploded"}, "status"),
    ({"last_update": "yesterday"}, "last_update"), ({"next_schedule": 5}, "next_schedule"), ([1], "object"),
])
def test_decode_refuses_what_go_refuses(body, field) -> None:
    with pytest.raises(DecodeError, match=field):
        decode_status(body)


@pytest.mark.parametrize("text", [
    "2024-05-01T12:34:56Z", "2024-05-01T12:34:56.1+08:00", "2024-05-01T12:34:56.000001-05:30",
    "2024-05-01T12:34:56.120000+00:00", "0999-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z",
])
def test_time_text_matches_shared_formatter(text) -> None:
    from tunasync.manager.codec import _t

    t = timefmt.parse_rfc3339(text)
    assert _t(t) == timefmt.format_rfc3339(t)
    if t.year > 1:  # the same wall time in this machine's zone
        local = t.replace(tzinfo=None).astimezone()
        assert _t(local) == timefmt.format_rfc3339(local)
