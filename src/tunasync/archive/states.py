"""Archive states of a mirrored file (DESIGN.md, "The archive tier, precisely").

    local ──hash──► hashed ──pack/offer──► storing ──n verified copies──► stored ──evict──► evicted
      ▲                                                                     ▲  ▲              │
      └──────────── upstream changed the file (any state) ─────────────────┘  └── cached ◄───┘ retrieved
A file is on local disk in every state except `evicted`. `cached` is a retrieved copy that the cache
budget may return to `evicted`; only `stored` and `cached` files may ever leave the disk.
"""

from __future__ import annotations

from enum import Enum


class FileState(str, Enum):
    LOCAL = "local"
    HASHED = "hashed"
    STORING = "storing"
    STORED = "stored"
    EVICTED = "evicted"
    CACHED = "cached"

    @property
    def on_disk(self) -> bool:
        return self is not FileState.EVICTED


# The only moves the archive code may make; anything else is a bug and raises.
TRANSITIONS: dict[FileState, frozenset[FileState]] = {
    FileState.LOCAL: frozenset({FileState.HASHED, FileState.LOCAL}),
    FileState.HASHED: frozenset({FileState.STORING, FileState.STORED, FileState.LOCAL}),
    FileState.STORING: frozenset({FileState.STORED, FileState.HASHED, FileState.LOCAL}),
    FileState.STORED: frozenset({FileState.EVICTED, FileState.STORING, FileState.LOCAL, FileState.HASHED}),
    FileState.EVICTED: frozenset({FileState.CACHED, FileState.STORING, FileState.LOCAL}),
    FileState.CACHED: frozenset({FileState.EVICTED, FileState.STORING, FileState.LOCAL, FileState.STORED,
                                 FileState.HASHED}),
}


def check_transition(old: FileState, new: FileState) -> None:
    if new not in TRANSITIONS[old]:
        raise ValueError(f"illegal archive state change {old.value} -> {new.value}")
