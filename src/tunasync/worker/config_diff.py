"""Reload reconciliation: which mirrors were added, deleted or modified (docs/compat.md §4.13).

Compared by name over the merged leaf configs, by deep equality of every key (an env change alone is a
modification; where an entry sits in the file is not). Operations come in name order, as Go's merge
walk of the two sorted lists produces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .config_models import MirrorConfig


@dataclass(frozen=True)
class MirrorChange:
    op: Literal["add", "delete", "modify"]
    name: str
    old: MirrorConfig | None
    new: MirrorConfig | None


def diff_mirrors(old: list[MirrorConfig], new: list[MirrorConfig]) -> list[MirrorChange]:
    before = {m.name: m for m in old}
    after = {m.name: m for m in new}
    changes: list[MirrorChange] = []
    for name in sorted(before.keys() | after.keys()):
        o, n = before.get(name), after.get(name)
        if o is None:
            changes.append(MirrorChange("add", name, None, n))
        elif n is None:
            changes.append(MirrorChange("delete", name, o, None))
        elif o.model_dump() != n.model_dump():
            changes.append(MirrorChange("modify", name, o, n))
    return changes
