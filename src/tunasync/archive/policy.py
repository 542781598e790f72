"""The archive policy as pure functions: how many copies to make, and whether a file may leave disk.

No I/O here: callers pass the facts (verified copy count, test retrieval result, the clock) and act on
the answer. Tests drive these with fixed datetimes.

The eviction rule lives here and nowhere else. `due_query` is what the index is asked (the evictor's
candidates, `archive status`, the manager's `evictable_now`); `should_evict` decides one file with
the facts checked just now; `may_drop_cached` is the cache budget's rule. Changing when a file is old
enough is a change to `cutoff_ns` and `evict_after` below, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .db.rows import DueQuery
from .states import FileState

# Only stored files leave the disk by age. A `cached` file (retrieved back) goes by the cache budget
# alone, least recently used first (`may_drop_cached`), never because it is old.
EVICTABLE_STATES: tuple[FileState, ...] = (FileState.STORED,)
# Files on disk that the age rule reaches once they are stored (what "next eviction" looks at).
WAITING_STATES: tuple[FileState, ...] = (FileState.LOCAL, FileState.HASHED, FileState.STORING, FileState.STORED)
# A bundle in these states holds no file that may leave the disk: repair rebuilds its CAR from them.
HOLDING_BUNDLE_STATES: tuple[str, ...] = ("degraded",)

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


def _keep(policy: Policy) -> timedelta:
    return timedelta(seconds=policy.keep_years * SECONDS_PER_YEAR)


def evict_after(mtime_ns: int, policy: Policy) -> datetime:
    """The instant from which a file with this mtime is older than keep_years."""
    return datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc) + _keep(policy)


def cutoff_ns(now: datetime, policy: Policy) -> int:
    """Files whose mtime_ns is below this are old enough to leave at `now` (the inverse of evict_after)."""
    return int((now - _keep(policy)).timestamp() * 1e9)


def due_query(policy: Policy, now: datetime) -> DueQuery:
    """The index's side of the rule: files that may leave now, copies and test retrieval aside. Empty
    files never leave (min_size 1): nothing to gain, and nothing to retrieve them with."""
    return DueQuery(EVICTABLE_STATES, cutoff_ns(now, policy), 1, HOLDING_BUNDLE_STATES)


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
    bundle_state: str | None = None,
) -> Decision:
    """May this file leave local disk now? Every condition must hold; the first that fails is the reason.

    The same conditions as `due_query`, then the facts checked just now (copies, test retrieval)."""
    if state not in EVICTABLE_STATES:
        why = "cached: the cache budget decides" if state is FileState.CACHED else f"state is {state.value}"
        return Decision(False, f"{why}, not stored")
    if size is not None and size < 1:
        return Decision(False, "empty: nothing to gain, and nothing to retrieve it with")
    if bundle_state in HOLDING_BUNDLE_STATES:
        return Decision(False, f"its bundle is {bundle_state}: repair needs it on disk")
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


def should_evict_all(
    *,
    states: Iterable[FileState],
    newest_mtime_ns: int,
    smallest_size: int,
    now: datetime,
    verified_copies: int,
    test_retrieval_ok: bool | None,
    policy: Policy,
    bundle_state: str | None = None,
) -> Decision:
    """`should_evict` once for a whole page of files that share the run's facts (bundle, copies, test
    retrieval): yes means yes for every file of the page; no means ask per file.

    Sound because each per-file condition of `should_evict` only gets easier for an older or a larger
    file: the page's newest mtime and smallest size, with each of its states, are its hardest cases."""
    decision = Decision(False, "no files")
    for state in dict.fromkeys(states):
        decision = should_evict(state=state, mtime_ns=newest_mtime_ns, now=now, verified_copies=verified_copies,
                                test_retrieval_ok=test_retrieval_ok, policy=policy, size=smallest_size,
                                bundle_state=bundle_state)
        if not decision:
            return decision
    return decision


def may_drop_cached(*, state: FileState, verified_copies: int, policy: Policy, bundle_state: str | None,
                    foreign: bool = False) -> Decision:
    """May the cache budget return this cached file to `evicted`? Its copies were checked on chain just
    now; a file of a degraded bundle stays (repair rebuilds the CAR from it)."""
    if state is not FileState.CACHED:
        return Decision(False, f"state is {state.value}: not the cache's to remove")
    if not foreign and bundle_state != "stored":
        return Decision(False, f"its bundle is {bundle_state or 'unknown'}, not stored")
    if verified_copies < policy.copies:
        return Decision(False, f"only {verified_copies} of {policy.copies} verified copies")
    return Decision(True, "copies verified")


def needs_repair(verified_copies: int, policy: Policy) -> bool:
    return verified_copies < policy.copies
