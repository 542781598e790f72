"""Archive states of a mirrored file and of a bundle: defined in archive/db/states.py (with the only
legal moves); imported from here by the steps that read them."""

from __future__ import annotations

from .db.states import (
    BUNDLE_TRANSITIONS,
    OPEN_BUNDLE_STATES,
    TRANSITIONS,
    BundleState,
    FileState,
    IllegalTransition,
    check_bundle_transition,
    check_transition,
)

__all__ = ["BUNDLE_TRANSITIONS", "OPEN_BUNDLE_STATES", "TRANSITIONS", "BundleState", "FileState",
           "IllegalTransition", "check_bundle_transition", "check_transition"]
