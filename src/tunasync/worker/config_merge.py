"""Nested mirrors (`[[mirrors.mirrors]]`) flattened into leaf mirrors, mergo style (docs/compat.md §4.3).

A group's merged config is the base of its children; a child field replaces the parent's only when
the child's value is non-empty ("", 0, false, [], {} and provider `rsync` are empty), lists replace
whole, `env` merges key by key with the child winning. Only leaves (entries without `mirrors`)
become mirrors, depth-first in document order; a child without `name` inherits its parent's.

Quirk 22, first half (kept): a child cannot reset a value to empty; existing configs rely on the
override rule. Second half (fixed): Go shares one env map between a group and all its descendants,
so siblings leak env keys into each other; here every leaf gets its own copy holding exactly its
ancestors' keys and its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..providerkind import ProviderKind
from .config_models import MirrorConfig


def is_empty(name: str, value: Any) -> bool:
    if name == "provider":
        return bool(value == ProviderKind.RSYNC)  # Go's zero providerEnum: mergo takes it for "not set"
    return bool(value is None or value == "" or value is False or value == 0 or value == [] or value == {})


def merge(parent: MirrorConfig, child: MirrorConfig) -> MirrorConfig:
    """`child` over `parent` with mergo's override rule; the result shares no list or dict with either."""
    values: dict[str, Any] = {}
    for name in MirrorConfig.model_fields:
        mine, theirs = getattr(child, name), getattr(parent, name)
        if name == "env":
            values[name] = {**theirs, **mine}
        else:
            value = theirs if is_empty(name, mine) else mine
            values[name] = list(value) if isinstance(value, list) else value
    return MirrorConfig.model_construct(**values).located(child.file, child.key)


@dataclass
class Entry:
    """One `[[mirrors]]` table as written: its own keys and its children (None for a leaf)."""

    config: MirrorConfig
    children: list[Entry] | None = field(default=None)


def flatten(entries: Iterable[Entry], parent: MirrorConfig | None = None) -> list[MirrorConfig]:
    """The leaf mirrors of `entries`, each merged over its ancestors, in depth-first order."""
    base = parent if parent is not None else MirrorConfig()
    leaves: list[MirrorConfig] = []
    for entry in entries:
        merged = merge(base, entry.config)
        if entry.children is None:
            leaves.append(merged)
        else:
            leaves.extend(flatten(entry.children, merged))
    return leaves
