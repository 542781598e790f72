"""The devnet's deal lifecycle as a pure function of (deal, epoch, faults)."""

from __future__ import annotations

import pytest

from tunasync.filecoin.devnet.faults import Faults, parse_flag
from tunasync.filecoin.devnet.market import MarketParams, duration_epochs, step

P = MarketParams(publish_delay=1, seal_delay=2)


def deal(**kw):
    d = {"state": "proposed", "stored": 0, "proposed_epoch": 100, "published_epoch": -1, "start_epoch": 120,
         "end_epoch": 200}
    d.update(kw)
    return d


def test_lifecycle():
    assert step(deal(), 101, P, frozenset()) == {}  # not fetched yet
    ch = step(deal(stored=1), 101, P, frozenset())
    assert ch["state"] == "published" and ch["publish"]
    assert step(deal(state="published", published_epoch=101), 102, P, frozenset()) == {}
    ch = step(deal(state="published", published_epoch=101), 103, P, frozenset())
    assert ch["state"] == "active" and ch["sector_start_epoch"] == 103 and ch["seal"]
    assert step(deal(state="active"), 199, P, frozenset()) == {}
    assert step(deal(state="active"), 200, P, frozenset())["state"] == "expired"
    assert step(deal(state="expired"), 300, P, frozenset({"slash"})) == {}


def test_faults_change_the_lifecycle():
    never = frozenset({"never_seal"})
    assert step(deal(state="published", published_epoch=101), 110, P, never) == {}
    assert step(deal(state="published", published_epoch=101), 120, P, never)["state"] == "proposal_expired"
    assert step(deal(), 120, P, frozenset())["state"] == "proposal_expired"  # never fetched
    ch = step(deal(state="active"), 150, P, frozenset({"slash"}))
    assert ch["state"] == "slashed" and ch["slash_epoch"] == 150


def test_durations_and_fault_flags():
    assert duration_epochs("12840h", 0, P) == 12840 * 120
    assert duration_epochs("1h30m", 0, P) == 180
    assert duration_epochs("518400", 0, P) == 518400
    assert duration_epochs(None, 7, P) == 7
    with pytest.raises(ValueError):
        duration_epochs("3 days", 0, P)
    assert parse_flag("f01002:slow=0.5") == ("f01002", "slow", 0.5)
    with pytest.raises(ValueError):
        parse_flag("f01002:explode")
    f = Faults()
    f.set("f01000", "corrupt")
    assert f.kinds("f01000") == {"corrupt"} and not f.has("f01001", "corrupt")
