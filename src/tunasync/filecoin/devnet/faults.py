"""Faults the devnet can be told to show, per storage provider (by `--fault` or `POST /admin/faults`).

    offline     the provider's port refuses connections        (client: connect error, next candidate)
    hang        it accepts, then never answers                 (client: read timeout, not a hang)
    corrupt     /ipfs/ and /piece/ bodies have one flipped byte (client: VerifyError, next candidate)
    truncate    CAR / piece bodies stop halfway                 (client: incomplete, never a short file)
    never_seal  accepts deals, never seals them                 (published forever: never a copy)
    slash       active deals get slashed                        (never a copy)
    slow=S      every response waits S seconds first
    no_ipfs     /ipfs/ answers 404 (no CID index): only /piece/ works
    odd_addrs   StateMinerInfo shows it as real nodes may: PeerId null, two unreadable Multiaddrs, a QUIC
                one, and its HTTP port only as Curio's `/ws` form   (client: skips what it cannot read)
    unordered   /ipfs/ CARs come shuffled, their Content-Type without order or dups (a legacy gateway)
    flaky=N     (targets `rpc` and `ipni`) the next N requests answer 503
    malformed   (targets `rpc` and `ipni`, not providers) answers are garbage
    bad_record  (targets `ipni`) unreadable records come first in every answer (a reader skips them)
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("offline", "hang", "corrupt", "truncate", "never_seal", "slash", "slow", "malformed", "no_ipfs", "flaky",
         "odd_addrs", "unordered", "bad_record")


@dataclass
class Faults:
    by_provider: dict[str, dict[str, float]] = field(default_factory=dict)

    def kinds(self, provider: str) -> frozenset[str]:
        return frozenset(self.by_provider.get(provider, {}))

    def has(self, provider: str, kind: str) -> bool:
        return kind in self.by_provider.get(provider, {})

    def value(self, provider: str, kind: str, default: float = 0.0) -> float:
        return self.by_provider.get(provider, {}).get(kind, default)

    def set(self, provider: str, kind: str, value: float = 1.0, on: bool = True) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(KINDS)})")
        current = self.by_provider.setdefault(provider, {})
        if on:
            current[kind] = value
        else:
            current.pop(kind, None)

    def clear(self, provider: str | None = None) -> None:
        if provider is None:
            self.by_provider.clear()
        else:
            self.by_provider.pop(provider, None)

    def take_flaky(self, target: str) -> bool:
        """True (and one fewer left) while `target` still has flaky answers to give."""
        left = self.value(target, "flaky")
        if left <= 0:
            return False
        if left <= 1:
            self.set(target, "flaky", on=False)
        else:
            self.set(target, "flaky", left - 1)
        return True

    def as_json(self) -> dict[str, dict[str, float]]:
        return {p: dict(k) for p, k in self.by_provider.items() if k}


def parse_flag(text: str) -> tuple[str, str, float]:
    """`f01001:corrupt` or `f01002:slow=0.5` → (provider, kind, value)."""
    provider, sep, rest = text.partition(":")
    if not sep or not provider or not rest:
        raise ValueError(f"bad fault {text!r}: want PROVIDER:KIND[=VALUE], e.g. f01001:corrupt")
    kind, _, value = rest.partition("=")
    if kind not in KINDS:
        raise ValueError(f"bad fault {text!r}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return provider, kind, float(value) if value else 1.0
