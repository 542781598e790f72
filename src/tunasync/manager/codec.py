"""Go JSON text of the records the manager stores and sends, on the hot path.

Equal, byte for byte, to `gojson.dumps(x.to_go())` (tests hold them together) but without the
pydantic serialiser round trip: a status post encodes one record, and that encoding is stored and
sent as the reply.
"""

from __future__ import annotations

from datetime import datetime

from ..models import MirrorStatus, SyncStatus, WorkerStatus, gojson, timefmt

_ZERO_TEXT = timefmt.format_rfc3339(timefmt.ZERO_TIME)


def _t(t: datetime) -> str:
    return _ZERO_TEXT if t == timefmt.ZERO_TIME else timefmt.format_rfc3339(t)


def encode_status(s: MirrorStatus) -> str:
    return gojson.dumps({
        "name": s.name,
        "worker": s.worker,
        "is_master": s.is_master,
        "status": s.status.value,
        "last_update": _t(s.last_update),
        "last_started": _t(s.last_started),
        "last_ended": _t(s.last_ended),
        "next_schedule": _t(s.next_schedule),
        "upstream": s.upstream,
        "size": s.size,
        "error_msg": s.error_msg,
    })


def encode_worker(w: WorkerStatus) -> str:
    return gojson.dumps({
        "id": w.id,
        "url": w.url,
        "token": w.token,
        "last_online": _t(w.last_online),
        "last_register": _t(w.last_register),
    })


def encode(m: MirrorStatus | WorkerStatus) -> str:
    if type(m) is MirrorStatus:
        return encode_status(m)
    if type(m) is WorkerStatus:
        return encode_worker(m)
    return gojson.dumps(m.to_go())  # subclasses may change their shape: take the slow, exact path


_STR_FIELDS = ("name", "worker", "upstream", "size", "error_msg")
_TIME_FIELDS = ("last_update", "last_started", "last_ended", "next_schedule")


class DecodeError(ValueError):
    """A status body Go's decoder would refuse; the message names the field."""


def _time(key: str, v: object) -> datetime:
    if v == _ZERO_TEXT:
        return timefmt.ZERO_TIME
    if not isinstance(v, str):
        raise DecodeError(f"{key}: time must be an RFC 3339 string")
    try:
        return timefmt.parse_rfc3339(v)
    except ValueError as exc:
        raise DecodeError(f"{key}: {exc}") from None


def decode_status(data: object) -> MirrorStatus:
    """A MirrorStatus from decoded JSON as Go's decoder reads it: missing fields are zero values,
    unknown fields are ignored, a wrong type is an error. Builds the model without re-validating."""
    if data is None:
        return MirrorStatus()
    if not isinstance(data, dict):
        raise DecodeError(f"expected an object, got {type(data).__name__}")
    fields: dict[str, object] = {}
    for key in _STR_FIELDS:
        v = data.get(key)
        if v is None:
            continue
        if not isinstance(v, str):
            raise DecodeError(f"{key}: expected a string")
        fields[key] = v
    v = data.get("is_master")
    if v is not None:
        if not isinstance(v, bool):
            raise DecodeError("is_master: expected a boolean")
        fields["is_master"] = v
    v = data.get("status")
    if v is not None:
        try:
            fields["status"] = SyncStatus.parse(v)
        except ValueError as exc:
            raise DecodeError(f"status: {exc}") from None
    for key in _TIME_FIELDS:
        v = data.get(key)
        if v is not None:
            fields[key] = _time(key, v)
    return MirrorStatus.model_construct(**fields)
