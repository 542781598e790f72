"""The eviction and copy policy, driven with fixed datetimes (no clock, no I/O)."""

from datetime import datetime, timedelta, timezone

import pytest

from tunasync.archive.policy import Policy, copies_missing, evict_after, should_evict
from tunasync.archive.states import FileState, check_transition

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
OLD = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() * 1e9)
NEW = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() * 1e9)
P = Policy(copies=3, keep_years=2)


def decide(**kw):
    args = dict(state=FileState.STORED, mtime_ns=OLD, now=NOW, verified_copies=3, test_retrieval_ok=True, policy=P)
    args.update(kw)
    return should_evict(**args)


def test_old_stored_file_with_n_copies_and_test_retrieval_is_evicted():
    assert decide()


@pytest.mark.parametrize(
    "kw, why",
    [
        (dict(mtime_ns=NEW), "younger"),
        (dict(verified_copies=2), "only 2 of 3"),
        (dict(test_retrieval_ok=False), "test retrieval"),
        (dict(test_retrieval_ok=None), "test retrieval"),
        (dict(state=FileState.HASHED), "not stored"),
        (dict(state=FileState.STORING), "not stored"),
        (dict(state=FileState.LOCAL), "not stored"),
        (dict(upstream_deleted=True), "deleted upstream"),
    ],
)
def test_any_missing_condition_keeps_the_file(kw, why):
    d = decide(**kw)
    assert not d and why in d.reason


def test_test_retrieval_can_be_turned_off():
    assert decide(test_retrieval_ok=None, policy=Policy(copies=3, keep_years=2, verify_before_evict=False))


def test_keep_years_boundary_is_exact():
    due = evict_after(OLD, P)
    assert not decide(now=due - timedelta(seconds=1))
    assert decide(now=due)


def test_copies_missing_never_negative():
    assert copies_missing(0, P) == 3
    assert copies_missing(5, P) == 0


def test_illegal_transition_rejected():
    with pytest.raises(ValueError):
        check_transition(FileState.LOCAL, FileState.EVICTED)
    with pytest.raises(ValueError):
        check_transition(FileState.HASHED, FileState.EVICTED)


def test_one_decision_for_a_page_agrees_with_each_file_of_it():
    """`should_evict_all` (the eviction asks it once per page) says yes only when `should_evict` says yes
    for every file of the page: random pages around the keep_years boundary, sizes down to 0."""
    import random

    from tunasync.archive.policy import cutoff_ns, should_evict_all

    rnd = random.Random(5)
    cut = cutoff_ns(NOW, P)
    states = [FileState.STORED, FileState.STORED, FileState.CACHED, FileState.LOCAL]
    seen = {True: 0, False: 0}
    for _ in range(2000):
        page = [(rnd.choice(states) if rnd.random() < 0.1 else FileState.STORED,
                 cut + rnd.randint(-10**15, 10**13), rnd.choice([0, 1, 5, 1000]) if rnd.random() < 0.2 else 1000)
                for _ in range(rnd.randint(1, 6))]
        copies, tested, bundle = rnd.choice([2, 3, 4]), rnd.random() < 0.9, rnd.choice(["stored", "degraded"])
        one = should_evict_all(states=[s for s, _, _ in page], newest_mtime_ns=max(m for _, m, _ in page),
                               smallest_size=min(z for _, _, z in page), now=NOW, verified_copies=copies,
                               test_retrieval_ok=tested, policy=P, bundle_state=bundle)
        each = [should_evict(state=s, mtime_ns=m, size=z, now=NOW, verified_copies=copies,
                             test_retrieval_ok=tested, policy=P, bundle_state=bundle) for s, m, z in page]
        assert bool(one) == all(each), (page, one, each)
        seen[bool(one)] += 1
    assert min(seen.values()) > 100  # both answers were exercised
