"""The states of a file and of a bundle, and the only moves between them.

File states (docs/architecture.md, "The archive tier in one page"):

    local ──hash──► hashed ──pack/offer──► storing ──n verified copies──► stored ──evict──► evicted
      ▲                                                                     ▲  ▲              │
      └──────────── upstream changed the file (any state) ─────────────────┘  └── cached ◄───┘ retrieved

A file is on local disk in every state except `evicted`. `cached` is a retrieved copy that the cache
budget may return to `evicted`; only `stored` and `cached` files may ever leave the disk.

Bundle states (the bundle row is the journal of packing and storing):

    packing ─► staged ─► offered ─► stored ◄─► degraded

A `packing` bundle is never moved on: recovery deletes it (its files go back to `hashed`).
`repository.transition` is the one place a state changes; it refuses any move not listed here.
"""

from __future__ import annotations

from enum import Enum

from ...errors import ArchiveError


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


class BundleState(str, Enum):
    PACKING = "packing"
    STAGED = "staged"
    OFFERED = "offered"
    STORED = "stored"
    DEGRADED = "degraded"


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

BUNDLE_TRANSITIONS: dict[BundleState, frozenset[BundleState]] = {
    BundleState.PACKING: frozenset({BundleState.STAGED}),
    BundleState.STAGED: frozenset({BundleState.OFFERED, BundleState.STORED}),
    BundleState.OFFERED: frozenset({BundleState.STORED}),
    BundleState.STORED: frozenset({BundleState.DEGRADED}),
    BundleState.DEGRADED: frozenset({BundleState.STORED}),
}

# Bundles whose copies are still being gathered (store checks them every run).
OPEN_BUNDLE_STATES = (BundleState.STAGED, BundleState.OFFERED, BundleState.DEGRADED)


class IllegalTransition(ArchiveError, ValueError):
    """A state change the tables above do not allow: a bug in the caller, never data to keep."""


def check_transition(old: FileState, new: FileState) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"illegal archive state change {old.value} -> {new.value}")


def check_bundle_transition(old: BundleState, new: BundleState) -> None:
    if new not in BUNDLE_TRANSITIONS[old]:
        raise IllegalTransition(f"illegal bundle state change {old.value} -> {new.value}")


def sources(new: FileState) -> tuple[FileState, ...]:
    """Every state a file may reach `new` from."""
    return tuple(s for s in FileState if new in TRANSITIONS[s])
