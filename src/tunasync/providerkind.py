"""The kinds of mirror provider, and the one place an unknown kind is refused.

The worker builds a provider of each kind (worker/providers/build.py keeps the registry); the archive
tier asks only what the kind means for it (`rsync`: the upstream is an rsync URL it can list). Both
import from here, below either of them. A kind that is not one of these three is a ConfigError naming
the file and the key, wherever it is met: never a silent rsync.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import ConfigError


class ProviderKind(StrEnum):
    # Declared in the order of Go's providerEnum (provRsync, provTwoStageRsync, provCommand): a
    # template's {{.Provider}} is that number.
    RSYNC = "rsync"
    TWO_STAGE_RSYNC = "two-stage-rsync"
    COMMAND = "command"

    @property
    def go_value(self) -> int:
        return list(ProviderKind).index(self)

    @property
    def rsync(self) -> bool:
        """Runs rsync: the upstream is an rsync URL, rsync's exit codes and options apply."""
        return self is not ProviderKind.COMMAND

    @classmethod
    def lookup(cls, value: object) -> ProviderKind | None:
        """The kind named by `value`, None for anything else (Go accepts only the exact words)."""
        return cls(value) if isinstance(value, str) and value in cls._value2member_map_ else None

    @classmethod
    def parse(cls, value: object, file: str | None, key: str | None) -> ProviderKind:
        """The kind named by `value`; ConfigError naming `file` and `key` for anything else."""
        kind = cls.lookup(value)
        if kind is None:
            raise ConfigError(file, key, unknown_reason(value))
        return kind


def unknown_reason(value: object) -> str:
    names = ", ".join(k.value for k in ProviderKind)
    return f"invalid provider {value!r}: expected one of {names} (Go: Invalid value to provierEnum)"
