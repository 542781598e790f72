"""What tunasynctl does with the manager's JSON: decode it as Go does, re-encode it, give templates Go's fields.

`list --all` decodes WebMirrorStatus (text times plus separate `*_ts` integers), `list <worker>` decodes
MirrorStatus (RFC 3339 times). Both are re-encoded with Go's 2-space MarshalIndent, and `--format`
templates see Go's field names with Go's values:
- text times (`.LastUpdate`) are Go `time.Parse` results: in the local zone when the offset matches it
  (printing e.g. `+0800 CST`), else in a nameless fixed zone (printing `+0800 +0800`);
- `*Ts` fields (`.LastUpdateTs`) are Go `time.Unix(ts, 0)` times: they print as local times, like Go
  (the struct embeds time.Time); `{{.LastUpdateTs.Unix}}` gives the integer;
- `.Status` prints its string, `.IsMaster` prints `true`/`false`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError

from ..errors import CodecError
from ..models import MirrorStatus, SyncStatus, WorkerStatus, timefmt

WEB_TYPE = "internal.WebMirrorStatus"
STATUS_TYPE = "internal.MirrorStatus"

# (json key, Go field) for WebMirrorStatus, in Go's field order.
_WEB_TIMES = [("last_update", "LastUpdate"), ("last_started", "LastStarted"), ("last_ended", "LastEnded"),
              ("next_schedule", "Scheduled")]


class DecodeError(CodecError):
    """The manager's JSON does not decode into the Go type tunasynctl expects."""


def _fixed(off: timedelta) -> timezone:
    secs = int(off.total_seconds())
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    return timezone(off, f"{sign}{secs // 3600:02d}{secs % 3600 // 60:02d}")


def go_parsed(t: datetime) -> datetime:
    """Go time.Parse with a numeric offset: the local zone if it has that offset then, else a nameless zone."""
    off = t.utcoffset() or timedelta(0)
    try:
        local = t.astimezone()
    except (OverflowError, OSError, ValueError):
        local = None
    if local is not None and local.utcoffset() == off:
        return local
    return t.replace(tzinfo=_fixed(off))


def go_rfc3339(t: datetime) -> datetime:
    """Go's JSON time decoding: `Z` gives UTC, a numeric offset behaves like time.Parse."""
    if (t.utcoffset() or timedelta(0)) == timedelta(0):
        return t.astimezone(timezone.utc)
    return go_parsed(t)


def go_unix(ts: int) -> datetime:
    """Go time.Unix(ts, 0): a local time, even for the zero time's stamp (Shanghai: `08:05:43 +0805 LMT`)."""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).astimezone()
    except (OverflowError, OSError, ValueError):
        # year 0 (zero stamp west of Greenwich) does not exist in Python: keep the instant in UTC
        return timefmt.ZERO_TIME if ts == timefmt.ZERO_TS else datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=ts)


def _list(raw: Any, go_type: str) -> list[Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise DecodeError(f"json: cannot unmarshal {type(raw).__name__} into Go value of type []{go_type}")
    for item in raw:
        if not isinstance(item, dict):
            raise DecodeError(f"json: cannot unmarshal {type(item).__name__} into Go value of type {go_type}")
    return raw


def decode_web(raw: Any) -> list[dict[str, Any]] | None:
    """`GET /jobs` → items keyed by Go field name; None for JSON null."""
    items = _list(raw, WEB_TYPE)
    if items is None:
        return None
    out = []
    for d in items:
        try:
            item: dict[str, Any] = {
                "Name": _str(d, "name"),
                "IsMaster": _bool(d, "is_master"),
                "Status": SyncStatus.parse(d.get("status", "none")),
            }
            for key, fieldname in _WEB_TIMES:
                text = d.get(key)
                item[fieldname] = go_parsed(timefmt.parse_web(text)) if text is not None else timefmt.ZERO_TIME
                ts = d.get(key + "_ts")
                if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
                    raise ValueError(f"{key}_ts: {ts!r} is not an integer")
                item[fieldname + "Ts"] = go_unix(ts) if ts is not None else timefmt.ZERO_TIME
            item["Upstream"] = _str(d, "upstream")
            item["Size"] = _str(d, "size")
        except (ValueError, TypeError) as exc:
            raise DecodeError(str(exc)) from None
        # Go's template would print `.Scheduled`; keep the Go field order for `{{.}}`.
        order = ["Name", "IsMaster", "Status", "LastUpdate", "LastUpdateTs", "LastStarted", "LastStartedTs",
                 "LastEnded", "LastEndedTs", "Scheduled", "ScheduledTs", "Upstream", "Size"]
        out.append({k: item[k] for k in order})
    return out


def _str(d: dict[str, Any], key: str) -> str:
    v = d.get(key, "")
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ValueError(f"json: cannot unmarshal {type(v).__name__} into Go struct field .{key} of type string")
    return v


def _bool(d: dict[str, Any], key: str) -> bool:
    v = d.get(key, False)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise ValueError(f"json: cannot unmarshal {type(v).__name__} into Go struct field .{key} of type bool")
    return v


def encode_web(items: list[dict[str, Any]] | None) -> Any:
    """Go's re-encoding of decoded WebMirrorStatus values (text times and stamps each from its own field)."""
    if items is None:
        return None
    out = []
    for it in items:
        d: dict[str, Any] = {"name": it["Name"], "is_master": it["IsMaster"], "status": it["Status"].value}
        for key, fieldname in _WEB_TIMES:
            d[key] = timefmt.format_web(it[fieldname])
            d[key + "_ts"] = timefmt.unix(it[fieldname + "Ts"])
        d["upstream"] = it["Upstream"]
        d["size"] = it["Size"]
        out.append(d)
    return out


def decode_statuses(raw: Any) -> list[MirrorStatus] | None:
    """`GET /workers/<id>/jobs` → MirrorStatus list; None for JSON null."""
    items = _list(raw, STATUS_TYPE)
    if items is None:
        return None
    try:
        return [MirrorStatus.model_validate(d) for d in items]
    except ValidationError as exc:
        raise DecodeError(_first_error(exc)) from None


def status_fields(s: MirrorStatus) -> dict[str, Any]:
    """A MirrorStatus as Go's struct fields (what `--format` sees for worker lists)."""
    return {
        "Name": s.name,
        "Worker": s.worker,
        "IsMaster": s.is_master,
        "Status": s.status,
        "LastUpdate": go_rfc3339(s.last_update),
        "LastStarted": go_rfc3339(s.last_started),
        "LastEnded": go_rfc3339(s.last_ended),
        "Scheduled": go_rfc3339(s.next_schedule),
        "Upstream": s.upstream,
        "Size": s.size,
        "ErrorMsg": s.error_msg,
    }


def decode_workers(raw: Any) -> list[WorkerStatus] | None:
    items = _list(raw, "internal.WorkerStatus")
    if items is None:
        return None
    try:
        return [WorkerStatus.model_validate(d) for d in items]
    except ValidationError as exc:
        raise DecodeError(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e.get("loc", ()))
    return f"json: cannot decode field {where}: {e.get('msg', 'invalid value')}"
