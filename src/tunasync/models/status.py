"""The shapes manager, worker and tunasynctl share (docs/compat.md §1): one definition each.

`to_go()` returns a dict in Go's field order with Go's time text; `gojson.dumps(x.to_go())` gives the
bytes Go would send. Parsing accepts what Go accepts: missing fields are zero values, a wrong type or
an unknown status string is an error.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from . import timefmt


class SyncStatus(str, Enum):
    """The seven sync states, in Go's integer order."""

    NONE = "none"
    FAILED = "failed"
    SUCCESS = "success"
    SYNCING = "syncing"
    PRE_SYNCING = "pre-syncing"
    PAUSED = "paused"
    DISABLED = "disabled"

    @classmethod
    def parse(cls, raw: Any) -> SyncStatus:
        if isinstance(raw, SyncStatus):
            return raw
        try:
            return cls(raw)
        except ValueError:
            raise ValueError(f'Invalid status value: "{raw}"') from None


class CmdVerb(str, Enum):
    START = "start"
    STOP = "stop"
    DISABLE = "disable"
    RESTART = "restart"
    PING = "ping"
    RELOAD = "reload"

    @classmethod
    def parse(cls, raw: Any) -> CmdVerb:
        """Go quirk #7 (kept): any unknown or missing verb decodes as `start`."""
        try:
            return cls(raw)
        except ValueError:
            return cls.START


def _time_in(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, str):
        return timefmt.parse_rfc3339(v)
    raise ValueError("time must be an RFC 3339 string")


GoTime = Annotated[datetime, BeforeValidator(_time_in), PlainSerializer(timefmt.format_rfc3339, return_type=str)]
Status = Annotated[SyncStatus, BeforeValidator(SyncStatus.parse), PlainSerializer(lambda s: s.value, return_type=str)]
Verb = Annotated[CmdVerb, BeforeValidator(CmdVerb.parse), PlainSerializer(lambda s: s.value, return_type=str)]


class _Wire(BaseModel):
    # Go ignores unknown fields and fills missing ones with zero values; a wrong type is an error.
    model_config = ConfigDict(extra="ignore", strict=False, validate_assignment=False)

    def to_go(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class MirrorStatus(_Wire):
    """The stored record and the worker → manager status message (docs/compat.md §1.3)."""

    name: str = ""
    worker: str = ""
    is_master: bool = False
    status: Status = SyncStatus.NONE
    last_update: GoTime = timefmt.ZERO_TIME
    last_started: GoTime = timefmt.ZERO_TIME
    last_ended: GoTime = timefmt.ZERO_TIME
    next_schedule: GoTime = Field(default=timefmt.ZERO_TIME, alias="next_schedule")
    upstream: str = ""
    size: str = ""
    error_msg: str = ""

    def to_web(self) -> WebMirrorStatus:
        return WebMirrorStatus(
            name=self.name,
            is_master=self.is_master,
            status=self.status,
            last_update=self.last_update,
            last_started=self.last_started,
            last_ended=self.last_ended,
            next_schedule=self.next_schedule,
            upstream=self.upstream,
            size=self.size,
        )


class WebMirrorStatus(BaseModel):
    """What `GET /jobs` returns (docs/compat.md §1.4): text times plus integer `*_ts`, no worker, no error_msg."""

    name: str = ""
    is_master: bool = False
    status: SyncStatus = SyncStatus.NONE
    last_update: datetime = timefmt.ZERO_TIME
    last_started: datetime = timefmt.ZERO_TIME
    last_ended: datetime = timefmt.ZERO_TIME
    next_schedule: datetime = timefmt.ZERO_TIME
    upstream: str = ""
    size: str = ""

    def to_go(self) -> dict[str, Any]:
        w, u = timefmt.format_web, timefmt.unix
        return {
            "name": self.name,
            "is_master": self.is_master,
            "status": self.status.value,
            "last_update": w(self.last_update),
            "last_update_ts": u(self.last_update),
            "last_started": w(self.last_started),
            "last_started_ts": u(self.last_started),
            "last_ended": w(self.last_ended),
            "last_ended_ts": u(self.last_ended),
            "next_schedule": w(self.next_schedule),
            "next_schedule_ts": u(self.next_schedule),
            "upstream": self.upstream,
            "size": self.size,
        }

    @classmethod
    def from_go(cls, d: dict[str, Any]) -> WebMirrorStatus:
        """Decode as tunasynctl does: text times with the web layout."""

        def t(key: str) -> datetime:
            v = d.get(key)
            return timefmt.parse_web(v) if isinstance(v, str) and v else timefmt.ZERO_TIME

        return cls(
            name=d.get("name", ""),
            is_master=bool(d.get("is_master", False)),
            status=SyncStatus.parse(d.get("status", "none")),
            last_update=t("last_update"),
            last_started=t("last_started"),
            last_ended=t("last_ended"),
            next_schedule=t("next_schedule"),
            upstream=d.get("upstream", ""),
            size=d.get("size", ""),
        )


# Our manager's answer to a registration (POST /workers) carries this header: it forwards each command
# to the worker with the token the worker registered with. A Go manager sends no token and no header,
# so a worker that sees no header leaves its control port open, as Go's worker does.
COMMAND_AUTH_HEADER = "X-Tunasync-Command-Auth"
COMMAND_AUTH_BEARER = "bearer"


class WorkerStatus(_Wire):
    """A registered worker (docs/compat.md §1.5). `GET /workers` sends token `REDACTED`."""

    id: str = ""
    url: str = ""
    token: str = ""
    last_online: GoTime = timefmt.ZERO_TIME
    last_register: GoTime = timefmt.ZERO_TIME


class MirrorSchedule(_Wire):
    name: str = ""
    next_schedule: GoTime = timefmt.ZERO_TIME


class MirrorSchedules(_Wire):
    """Worker → manager (docs/compat.md §1.6); Go sends `{"schedules": null}` for an empty queue."""

    schedules: list[MirrorSchedule] | None = None


class ClientCmd(_Wire):
    """tunasynctl → manager `POST /cmd` (docs/compat.md §1.7)."""

    cmd: Verb = CmdVerb.START
    mirror_id: str = ""
    worker_id: str = ""
    args: list[str] | None = None
    options: dict[str, bool] | None = None


class WorkerCmd(_Wire):
    """manager → worker `POST /` (docs/compat.md §1.7)."""

    cmd: Verb = CmdVerb.START
    mirror_id: str = ""
    args: list[str] | None = None
    options: dict[str, bool] | None = None


class MirrorSize(_Wire):
    """tunasynctl set-size body."""

    name: str = ""
    size: str = ""
