"""Go JSON text of the records the manager stores and sends, on the hot path.

Equal, byte for byte, to `gojson.dumps(x.to_go())` (tests hold them together) but without the
pydantic serialiser round trip: a status post encodes one record, and that encoding is stored and
sent as the reply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from json.encoder import encode_basestring as q  # what json.dumps(ensure_ascii=False) uses

from ..errors import CodecError
from ..models import MirrorStatus, SyncStatus, WorkerStatus, gojson, timefmt

_ZERO_TEXT = timefmt.format_rfc3339(timefmt.ZERO_TIME)
_UTC = timedelta(0)
# Go's HTML-safe escapes, applied to the whole text as gojson.dumps does (keys and times never hold them).
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _t(t: datetime) -> str:
    """timefmt.format_rfc3339, faster: isoformat, fraction without trailing zeros, `Z` for UTC."""
    if t == timefmt.ZERO_TIME:
        return _ZERO_TEXT
    off = t.utcoffset()
    if off is None or off.seconds % 60 or off.microseconds:
        return timefmt.format_rfc3339(t)  # naive or odd offsets: the reference implementation
    text = t.isoformat()
    if t.microsecond:
        head, tail = text[:26].rstrip("0"), text[26:]
    else:
        head, tail = text[:19], text[19:]
    return head + ("Z" if off == _UTC else tail)


def encode_status(s: MirrorStatus) -> str:
    text = (
        '{"name":' + q(s.name) + ',"worker":' + q(s.worker)
        + ',"is_master":' + ("true" if s.is_master else "false")
        + ',"status":"' + s.status.value
        + '","last_update":"' + _t(s.last_update) + '","last_started":"' + _t(s.last_started)
        + '","last_ended":"' + _t(s.last_ended) + '","next_schedule":"' + _t(s.next_schedule)
        + '","upstream":' + q(s.upstream) + ',"size":' + q(s.size) + ',"error_msg":' + q(s.error_msg) + "}"
    )
    return text.translate(_GO_ESCAPES)


def encode_worker(w: WorkerStatus) -> str:
    text = (
        '{"id":' + q(w.id) + ',"url":' + q(w.url) + ',"token":' + q(w.token)
        + ',"last_online":"' + _t(w.last_online) + '","last_register":"' + _t(w.last_register) + '"}'
    )
    return text.translate(_GO_ESCAPES)


def encode(m: MirrorStatus | WorkerStatus) -> str:
    if type(m) is MirrorStatus:
        return encode_status(m)
    if type(m) is WorkerStatus:
        return encode_worker(m)
    return gojson.dumps(m.to_go())  # subclasses may change their shape: take the slow, exact path


_STR_FIELDS = ("name", "worker", "upstream", "size", "error_msg")
_TIME_FIELDS = ("last_update", "last_started", "last_ended", "next_schedule")


class DecodeError(CodecError):
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
    return MirrorStatus.model_construct(None, **fields)
