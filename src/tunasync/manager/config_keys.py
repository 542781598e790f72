"""Match raw TOML keys to model fields the way Go's BurntSushi/toml does.

A key matches a field name exactly first, then case-insensitively; a key that matches nothing is
ignored (Go) but reported so `--check` can warn about typos. Pure: dicts in, dicts and warnings out.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    origin = typing.get_origin(annotation)
    if origin in (list, typing.List):  # noqa: UP006
        args = typing.get_args(annotation)
        return _model_of(args[0]) if args else None
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _list_item_model(arg)
            if found:
                return found
    return None


def match_keys(data: dict[str, Any], model: type[BaseModel], path: str = "") -> tuple[dict[str, Any], list[str]]:
    """Rename `data`'s keys to `model`'s field names; return (renamed data, dotted paths of unknown keys)."""
    fields = model.model_fields
    lower = {name.lower(): name for name in fields}
    out: dict[str, Any] = {}
    unknown: list[str] = []
    # Exact matches claim their field first, so `Port` never shadows `port`.
    for key, value in data.items():
        if key in fields:
            out[key] = value
    for key, value in data.items():
        if key in fields:
            continue
        name = lower.get(key.lower())
        if name is None or name in out:
            unknown.append(f"{path}{key}")
            continue
        out[name] = value
    for name, value in list(out.items()):
        annotation = fields[name].annotation
        sub = _model_of(annotation)
        if sub is not None and isinstance(value, dict):
            out[name], more = match_keys(value, sub, f"{path}{name}.")
            unknown += more
            continue
        item = _list_item_model(annotation)
        if item is not None and isinstance(value, list):
            items = []
            for i, elem in enumerate(value):
                if isinstance(elem, dict):
                    elem, more = match_keys(elem, item, f"{path}{name}[{i}].")
                    unknown += more
                items.append(elem)
            out[name] = items
    return out, unknown
