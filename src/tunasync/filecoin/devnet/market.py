"""The devnet's deal lifecycle, as a pure function of (deal, epoch, faults).

    proposed ──(provider fetched the CAR, CommP matched)──► published ──(sealing delay)──► active
       │                                                     │                             │    │
       └─(start epoch passed)──► proposal_expired ◄──────────┘ (never sealed)     slashed ◄┘    └► expired (end epoch)

A failed fetch or a CommP mismatch makes the provider reject the deal (`error`); that is decided by
`providers.py`, not here. `step` only returns the changes to apply; the caller assigns deal IDs and
sector numbers (they are counters in the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..interfaces import DealState

TERMINAL = frozenset(s.value for s in DealState if s.ended)
LIVE = frozenset(s.value for s in DealState if s.live)


@dataclass(frozen=True)
class MarketParams:
    publish_delay: int = 1  # epochs from "stored" to the PublishStorageDeals message
    seal_delay: int = 2  # epochs from publication to SectorStartEpoch
    start_delay: int = 200  # default StartEpoch = proposal epoch + this
    duration: int = 518_400  # default deal length in epochs (180 days, Boost's default)
    epochs_per_hour: int = 120  # Filecoin's 30 s epochs, for Singularity's "12840h" durations


def step(deal: dict[str, Any], epoch: int, params: MarketParams, faults: frozenset[str]) -> dict[str, Any]:
    """Changes to apply to `deal` at `epoch`; {} when nothing happens. Keys `publish`/`seal` ask the
    caller for a fresh deal ID / sector number."""
    state = deal["state"]
    if state in TERMINAL:
        return {}
    if state == DealState.PROPOSED.value:
        if deal["stored"] and epoch >= deal["proposed_epoch"] + params.publish_delay:
            return {"state": DealState.PUBLISHED.value, "published_epoch": epoch, "last_updated": epoch, "publish": True}
        if epoch >= deal["start_epoch"]:
            return {"state": DealState.PROPOSAL_EXPIRED.value, "last_updated": epoch}
        return {}
    if state == DealState.PUBLISHED.value:
        if "never_seal" not in faults and epoch >= deal["published_epoch"] + params.seal_delay:
            return {"state": DealState.ACTIVE.value, "sector_start_epoch": epoch, "last_updated": epoch, "seal": True}
        if epoch >= deal["start_epoch"]:
            return {"state": DealState.PROPOSAL_EXPIRED.value, "last_updated": epoch}
        return {}
    if state == DealState.ACTIVE.value:
        if "slash" in faults:
            return {"state": DealState.SLASHED.value, "slash_epoch": epoch, "last_updated": epoch}
        if epoch >= deal["end_epoch"]:
            return {"state": DealState.EXPIRED.value, "last_updated": epoch}
    return {}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string such as "12840h", "1h30m", "90s"."""
    import re

    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    text = text.strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r} (want e.g. 12840h, 72h, 1h30m)")
    return sum(float(n) * units[u] for n, u in parts)


def duration_epochs(text: str | int | None, default: int, params: MarketParams) -> int:
    """Epochs for a Singularity duration (Go duration string) or a plain epoch count."""
    if text is None or text == "":
        return default
    if isinstance(text, int) or str(text).isdigit():
        return int(text)
    return max(1, round(parse_go_duration(str(text)) / 3600.0 * params.epochs_per_hour))
