"""`tunasync archive plan`: what the archive tier would do to a mirror, before it does it.

From the index (after a fresh scan with `--scan`) and the copy checks already made, for the policy in
the config or a what-if (`--keep-years`, `--copies`):

- what eviction frees now: files past keep_years whose piece has n verified copies (what `archive evict`
  then removes, the test retrieval aside), and what is past keep_years but must be stored first;
- what it frees over the next years: bytes and files by the year they become due;
- the storing ahead: files not yet stored, less those the network already holds n times (foreign copies
  already verified), packed into bundles of `bundle_size`, each offered to n providers;
- an estimated storage cost from a price per TiB per year given by the operator (`--price-tib-year` or
  `[archive] price_per_tib_year`): we never invent a price;
- bytes by age (year of mtime), for a terminal chart.

Nothing here changes the index or the network.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .exclude import evictable_name
from .index import ArchiveIndex
from .policy import Policy, evict_after
from .states import FileState

TIB = 1 << 40
FR32 = 128 / 127  # a piece's padding of the payload (two zero bits per 254)


@dataclass
class Tally:
    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size


@dataclass
class Plan:
    mirror: str
    now: str
    keep_years: float
    copies: int
    bundle_size: int
    total: Tally = field(default_factory=Tally)  # every file the mirror holds (upstream-deleted left out)
    on_disk: Tally = field(default_factory=Tally)
    evicted: Tally = field(default_factory=Tally)  # already off disk
    evict_now: Tally = field(default_factory=Tally)  # due, n verified copies: `archive evict` frees these
    due_not_stored: Tally = field(default_factory=Tally)  # due, but fewer than n copies yet
    held_by_network: Tally = field(default_factory=Tally)  # not ours to store: others hold it n times
    storing: Tally = field(default_factory=Tally)  # packed, its piece short of n copies yet
    to_store: Tally = field(default_factory=Tally)  # still to pack and offer
    stored: Tally = field(default_factory=Tally)  # in our pieces with n verified copies
    by_due_year: dict[str, Tally] = field(default_factory=dict)  # year a file on disk becomes due
    by_age: dict[str, Tally] = field(default_factory=dict)  # year of mtime (files on disk)
    bundles: int = 0  # new bundles the files to store make
    deals: int = 0  # offers those bundles need (n each), plus the missing copies of open bundles
    tib_on_filecoin: float = 0.0  # padded TiB of our pieces, times n copies, once everything is stored
    price_per_tib_year: float | None = None
    cost_per_year: float | None = None
    evict_now_paths: list[str] = field(default_factory=list)

    def to_json(self, with_paths: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_paths:
            d.pop("evict_now_paths")
        return d


def _year(ts_ns: int) -> str:
    return str(datetime.fromtimestamp(ts_ns / 1e9, timezone.utc).year)


def _padded(nbytes: int) -> int:
    """A piece's padded size for a payload of `nbytes` (the next power of two of its fr32 size)."""
    if nbytes <= 0:
        return 0
    return 1 << max(7, math.ceil(math.log2(math.ceil(nbytes * FR32))))


def make_plan(index: ArchiveIndex, mirror: str, policy: Policy, bundle_size: int, *, now: datetime | None = None,
              price_per_tib_year: float | None = None) -> Plan:
    now = now or datetime.now(timezone.utc)
    p = Plan(mirror=mirror, now=now.isoformat(timespec="seconds"), keep_years=policy.keep_years,
             copies=policy.copies, bundle_size=bundle_size, price_per_tib_year=price_per_tib_year)
    piece_copies: dict[int, int] = {}
    padded_by_bundle: dict[int, int] = {}
    for b in index.bundles():
        if b.piece_cid:
            piece_copies[b.id] = index.verified_copies(b.piece_cid)
            padded_by_bundle[b.id] = b.padded_size or _padded(b.car_size or 0)
    due_years: dict[str, Tally] = defaultdict(Tally)
    ages: dict[str, Tally] = defaultdict(Tally)
    ours: set[int] = set()
    for rec in index.files():
        if rec.deleted:
            continue
        p.total.add(rec.size)
        copies = piece_copies.get(rec.bundle_id, 0) if rec.bundle_id is not None else 0
        foreign = index.foreign(rec.cid) if rec.cid and rec.bundle_id is None else None
        if rec.state is FileState.EVICTED:
            p.evicted.add(rec.size)
            p.stored.add(rec.size)
            if rec.bundle_id is not None:
                ours.add(rec.bundle_id)
            continue
        p.on_disk.add(rec.size)
        ages[_year(rec.mtime_ns)].add(rec.size)
        held = copies >= policy.copies
        if held:
            p.stored.add(rec.size)
            ours.add(rec.bundle_id or 0)
        elif foreign is not None and foreign.providers >= policy.copies:
            p.held_by_network.add(rec.size)
        elif rec.bundle_id is not None:
            p.storing.add(rec.size)
            ours.add(rec.bundle_id)
        else:
            p.to_store.add(rec.size)  # empty files too: they are packed like the rest
        if rec.size == 0:
            continue  # never leaves the disk: nothing to gain
        due = evict_after(rec.mtime_ns, policy)
        if due > now:
            due_years[str(due.year)].add(rec.size)
            continue
        # the eviction rule of the evictor (the test retrieval it makes aside); cached files are the
        # cache budget's, so they are not counted here
        if rec.state is FileState.STORED and held and evictable_name(rec.path):
            p.evict_now.add(rec.size)
            p.evict_now_paths.append(rec.path)
        elif rec.state is not FileState.CACHED:
            p.due_not_stored.add(rec.size)
    p.by_due_year = dict(sorted(due_years.items()))
    p.by_age = dict(sorted(ages.items()))
    p.bundles = math.ceil(p.to_store.bytes / bundle_size) if p.to_store.bytes else 0
    missing_open = sum(max(0, policy.copies - n) for bid, n in piece_copies.items() if n < policy.copies)
    p.deals = p.bundles * policy.copies + missing_open
    new_padded = 0
    if p.to_store.bytes:
        full, rest = divmod(p.to_store.bytes, bundle_size)
        new_padded = full * _padded(bundle_size) + _padded(rest)
    padded = sum(padded_by_bundle[b] for b in ours if b in padded_by_bundle) + new_padded
    p.tib_on_filecoin = padded * policy.copies / TIB
    if price_per_tib_year is not None:
        p.cost_per_year = p.tib_on_filecoin * price_per_tib_year
    p.evict_now_paths.sort()
    return p
