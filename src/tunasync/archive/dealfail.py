"""Why deals fail, said once per deal, counted per reason, and when to stop waiting for them.

A provider that cannot fetch our CAR (a wrong `piece_url`, a proxy in the way), finds a different CommP,
or lets an accepted deal pass its start epoch unsealed ends the deal in a failed state with a message.
Each such deal is reported once per run (provider, deal, reason, message, the URL it was offered at),
counted in `tunasync_archive_deal_failures_total{mirror,reason}`, and when every provider has failed a
bundle and none still holds a live deal, waiting longer cannot help: the store gives up on that bundle
for this run and says the common reason.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from dataclasses import dataclass

from prometheus_client import Counter

from ..filecoin.interfaces import DealRef, DealState

log = logging.getLogger(__name__)

DEAL_FAILURES = Counter("tunasync_archive_deal_failures",
                        "Storage deals that failed, by mirror and reason (piece_fetch_failed, commp_mismatch, "
                        "not_sealed_in_time, slashed, deal_ended, provider_rejected).", ["mirror", "reason"])

# What an operator does about each reason.
ADVICE = {
    "piece_fetch_failed": "providers cannot download the CAR: check [archive] piece_url (CARs are fetched at "
                          "<piece_url>/piece/<pieceCid>) and that `tunasync serve -c` answers there from the internet; "
                          "`tunasync archive doctor` fetches one back",
    "commp_mismatch": "the CAR providers downloaded is not the one we staged: a proxy or cache is changing it",
    "not_sealed_in_time": "providers accepted but did not seal before the start epoch: try other providers",
    "slashed": "a provider lost the data: others are asked",
    "deal_ended": "a deal reached its end: others are asked",
    "provider_rejected": "the providers refused the deal: check their terms (price, verified, duration) and wallet",
}


def reason_of(deal: DealRef) -> str:
    """A reason label from the deal's state and its message (the providers' words, not ours)."""
    if deal.state is DealState.PROPOSAL_EXPIRED:
        return "not_sealed_in_time"
    if deal.state in (DealState.SLASHED, DealState.EXPIRED):
        return "slashed" if deal.state is DealState.SLASHED else "deal_ended"
    text = deal.error.lower()
    if "commp" in text or ("piece cid" in text and "mismatch" in text):
        return "commp_mismatch"
    if any(w in text for w in ("fetch", "download", "http ", "connect", "404", "403", "timeout", "timed out")):
        return "piece_fetch_failed"
    return "provider_rejected"


@dataclass(frozen=True)
class DealFailure:
    bundle: int
    provider: str
    deal_id: int | None
    state: str
    reason: str
    message: str
    url: str

    def text(self) -> str:
        deal = f"deal {self.deal_id}" if self.deal_id is not None else "a deal"
        why = self.message or self.state
        where = "" if self.url in why else f" [offered at {self.url}]"
        return f"bundle {self.bundle}: provider {self.provider} failed {deal} ({self.reason}): {why}{where}"

    def to_json(self) -> dict[str, object]:
        return {"bundle": self.bundle, "provider": self.provider, "deal": self.deal_id, "state": self.state,
                "reason": self.reason, "message": self.message, "url": self.url}


def common_reason(failures: list[DealFailure]) -> str:
    """The reason most failures share, with one message as an example and what to do."""
    if not failures:
        return ""
    reason, n = Tally(f.reason for f in failures).most_common(1)[0]
    example = next(f for f in failures if f.reason == reason)
    why = example.message or example.state
    where = "" if example.url in why else f"; offered at {example.url}"
    return f"{n} of {len(failures)} failed deal(s): {reason} ({why}{where}): {ADVICE.get(reason, '')}"


class DealWatch:
    """The failures of one store run: each deal reported once; which bundles every provider failed."""

    def __init__(self, mirror: str):
        self.mirror = mirror
        self.failures: list[DealFailure] = []
        self._seen: set[tuple[int, str, int | None, str]] = set()
        self._failed_by: dict[int, set[str]] = {}

    def observe(self, bundle: int, deals: list[DealRef], url: str) -> list[DealFailure]:
        new = []
        for d in deals:
            key = (bundle, d.provider, d.deal_id, d.state)
            self._failed_by.setdefault(bundle, set()).add(d.provider)
            if key in self._seen:
                continue
            self._seen.add(key)
            f = DealFailure(bundle, d.provider, d.deal_id, d.state, reason_of(d), d.error, url)
            new.append(f)
            self.failures.append(f)
            DEAL_FAILURES.labels(self.mirror, f.reason).inc()
            log.warning("archive %s: %s", self.mirror, f.text())
        return new

    def hopeless(self, bundle: int, providers: list[str] | None, live: int) -> bool:
        """Every provider failed this bundle in this run and none holds a live deal for it."""
        if live or not providers:
            return False
        return set(providers) <= self._failed_by.get(bundle, set())
