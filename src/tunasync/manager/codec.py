"""Go JSON text of the records the manager stores and sends, on the hot path.

Equal, byte for byte, to `gojson.dumps(x.to_go())` (tests hold them together) but without the
pydantic serialiser round trip: a status post encodes one record, and that encoding is stored and
sent as the reply.
"""

from __future__ import annotations

from datetime import datetime

from ..models import MirrorStatus, WorkerStatus, gojson, timefmt

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
