"""The archive policy as pure functions: how many copies to make, and whether a file may leave disk.

No I/O here: callers pass the facts (verified copy count, test retrieval result, the clock) and act on
the answer. Tests drive these with fixed datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .states import FileState

SECONDS_PER_YEAR = 365.2425 * 86400  # Gregorian mean year: "N years" needs no calendar here


@dataclass(frozen=True)
class Policy:
    copies: int = 3
    keep_years: float = 2.0
    verify_before_evict: bool = True
    count_foreign_copies: bool = True

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ValueError("copies must be at least 1")
        if self.keep_years < 0:
            raise ValueError("keep_years must not be negative")


@dataclass(frozen=True)
class Decision:
    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


def copies_missing(verified_copies: int, policy: Policy) -> int:
    """How many more distinct providers must hold the piece (0 = store nothing)."""
    return max(0, policy.copies - verified_copies)


def evict_after(mtime_ns: int, policy: Policy) -> datetime:
    """The instant from which a file with this mtime is older than keep_years."""
    mtime = datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc)
    return mtime + timedelta(seconds=policy.keep_years * SECONDS_PER_YEAR)


def should_evict(
    *,
    state: FileState,
    mtime_ns: int,
    now: datetime,
    verified_copies: int,
    test_retrieval_ok: bool | None,
    policy: Policy,
    upstream_deleted: bool = False,
    size: int | None = None,
) -> Decision:
    """May this file leave local disk now? Every condition must hold; the first that fails is the reason."""
    if state not in (FileState.STORED, FileState.CACHED):
        return Decision(False, f"state is {state.value}, not stored")
    if size == 0:
        return Decision(False, "empty: nothing to gain, and nothing to retrieve it with")
    due = evict_after(mtime_ns, policy)
    if now < due:
        return Decision(False, f"younger than keep_years (due {due:%Y-%m-%d})")
    if verified_copies < policy.copies:
        return Decision(False, f"only {verified_copies} of {policy.copies} verified copies")
    if policy.verify_before_evict and not test_retrieval_ok:
        return Decision(False, "no verified test retrieval yet")
    if upstream_deleted:
        # Upstream removed it: rsync deletes it anyway; the archive keeps its copies known.
        return Decision(False, "deleted upstream")
    return Decision(True, "old enough, copies verified")


def needs_repair(verified_copies: int, policy: Policy) -> bool:
    return verified_copies < policy.copies
