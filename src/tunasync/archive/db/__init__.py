"""The archive index's storage: the only code that writes its SQL (see schema.py, repository.py,
engine.py). Everything else goes through `ArchiveIndex` (archive/index.py) or the repositories."""

from .engine import Database
from .repository import Repos, transition
from .rows import (
    Bundle,
    BundleMember,
    DueFile,
    DueQuery,
    DueRow,
    FileRecord,
    ForeignCopies,
    JournalEntry,
    PathStat,
    Pending,
    ScanLogState,
    StateTotal,
    StatRow,
)
from .schema import VERSION
from .states import (
    BUNDLE_TRANSITIONS,
    OPEN_BUNDLE_STATES,
    TRANSITIONS,
    BundleState,
    FileState,
    IllegalTransition,
    check_bundle_transition,
    check_transition,
)

__all__ = [
    "BUNDLE_TRANSITIONS", "OPEN_BUNDLE_STATES", "TRANSITIONS", "VERSION", "Bundle", "BundleMember", "BundleState",
    "Database", "DueFile", "DueQuery", "DueRow", "FileRecord", "FileState", "ForeignCopies", "IllegalTransition", "JournalEntry",
    "PathStat", "Pending", "Repos", "ScanLogState", "StatRow", "StateTotal",
    "check_bundle_transition", "check_transition", "transition",
]
