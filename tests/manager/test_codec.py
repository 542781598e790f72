"""The hot-path encoder writes exactly Go's JSON, the same bytes as the shared models' `to_go`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tunasync.manager.codec import encode
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
