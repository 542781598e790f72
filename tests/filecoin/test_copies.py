"""The docs/filecoin.md §4.3 copy rule as pure functions: what counts, what never does."""

from __future__ import annotations

from dataclasses import replace

from tunasync.content.cid import CID
from tunasync.filecoin.copies import Claim, MarketDeal, actor_id, claim_status, deal_status, report
from tunasync.filecoin.interfaces import CopyDetail

P = CID.decode("baga6ea4seaqbyafx5e5lzyqq2upjo5j4ziulp6phikah6p7ujgv2cmqrkxcqepq")
Q = CID.decode("baga6ea4seaqdnumj2qy2m33n4gq3aizapmnpfim5s5s7tufhjfaij7lolfogqdq")
DEAL = MarketDeal(deal_id=1, piece_cid=P, piece_size=256, client="f01999", provider="f01000", label="",
                  verified=False, start_epoch=200, end_epoch=1000, sector_start_epoch=150, last_updated_epoch=150,
                  slash_epoch=-1, sector_number=3)
CLAIM = Claim(claim_id=7, provider="f01001", client="f01999", data=P, size=256, term_min=100, term_max=500,
              term_start=150, sector=4)


def test_active_deal_counts():
    assert deal_status(DEAL, P, 256, 500) == (True, "active since epoch 150")


def test_published_is_not_a_copy():
    ok, why = deal_status(replace(DEAL, sector_start_epoch=-1), P, 256, 160)
    assert not ok and "not sealed" in why
    ok, why = deal_status(replace(DEAL, sector_start_epoch=-1), P, 256, 200)
    assert not ok and "proposal expired" in why


def test_slashed_expired_wrong_piece_or_size_never_count():
    assert not deal_status(replace(DEAL, slash_epoch=300), P, 256, 500)[0]
    assert not deal_status(DEAL, P, 256, 1000)[0]  # head == EndEpoch: over
    assert deal_status(DEAL, P, 256, 999)[0]
    assert not deal_status(DEAL, Q, 256, 500)[0]
    assert not deal_status(DEAL, P, 512, 500)[0]


def test_claims():
    assert claim_status(CLAIM, P, 256, 600, True)[0]
    assert not claim_status(CLAIM, P, 256, 650, True)[0]  # term_start + term_max
    assert not claim_status(CLAIM, P, 256, 600, False)[0]  # sector gone
    assert not claim_status(replace(CLAIM, term_start=0), P, 256, 600, True)[0]
    assert not claim_status(CLAIM, P, 128, 600, True)[0]


def test_distinct_providers_not_deals():
    details = [CopyDetail("f01000", "deal", 1, True, ""), CopyDetail("t01000", "deal", 2, True, ""),
               CopyDetail("f01002", "claim", 7, True, ""), CopyDetail("f01001", "deal", 3, False, "slashed")]
    r = report(details, 42)
    assert r.providers == ["f01000", "f01002"] and r.count == 2 and r.epoch == 42
    assert actor_id(1000) == actor_id("t01000") == actor_id("1000") == "f01000"
