"""Wire models shared by manager, worker and tunasynctl (docs/compat.md §1)."""

from . import gojson, timefmt
from .status import (
    ClientCmd,
    CmdVerb,
    MirrorSchedule,
    MirrorSchedules,
    MirrorSize,
    MirrorStatus,
    SyncStatus,
    WebMirrorStatus,
    WorkerCmd,
    WorkerStatus,
)

__all__ = [
    "ClientCmd",
    "CmdVerb",
    "MirrorSchedule",
    "MirrorSchedules",
    "MirrorSize",
    "MirrorStatus",
    "SyncStatus",
    "WebMirrorStatus",
    "WorkerCmd",
    "WorkerStatus",
    "gojson",
    "timefmt",
]
