"""TOML keys matched to model fields as BurntSushi/toml does, and problems collected per file and key.

A key matches a field exactly first, then case-insensitively (docs/compat.md §3.1). Go ignores unknown keys in
silence; we keep loading but report each one as a warning, so a typo such as `intervall` is seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..tomlfile import Problems, bound_reason


def join_key(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def match_keys(
    raw: Mapping[str, Any], known: Iterable[str], file: str, prefix: str, problems: Problems
) -> dict[str, Any]:
    """`raw` with its keys renamed to the known names; unknown keys dropped with a warning."""
    known = list(known)
    folded = {k.lower(): k for k in known}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key if key in known else folded.get(key.lower())
        if name is None:
            problems.warning(file, join_key(prefix, key), "unknown key, ignored (as Go does)")
        elif name in out and key != name:
            problems.warning(file, join_key(prefix, key), f"duplicates {name!r} (case-insensitive), ignored")
        else:
            out[name] = value
    return out


def validate(
    model: type[BaseModel], data: Mapping[str, Any], file: str, prefix: str, problems: Problems
) -> BaseModel | None:
    """`model` built from `data`, or None after recording every validation problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            key = prefix
            for part in err["loc"]:
                key = join_key(key, part)
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] not in ("value_error", "missing"):
                reason = bound_reason(err) or f"{reason}, got {err['input']!r}"
            problems.error(file, key, reason)
        return None
