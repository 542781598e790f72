"""log_dir templates: Go html/template over the mirror's Go field names (docs/compat.md §4.4, quirk 24).

A thin adapter over the project's Go template engine (`tunasync.gotemplate`, html mode): `{{.Name}}`
and every other Go field name of the mirror config (`{{.Provider}}` is the enum number, `{{.Env}}`
prints as `map[K:V]`), with html/template's escaping of values (`& ' " < > +` and NUL), so a mirror
named `c++` logs under `.../c&#43;&#43;` exactly as Go does (quirk 24: kept, existing log
directories stay where they are).

Parse errors raise ValueError (the loader makes them ConfigErrors; Go panics at startup). An
execution error (an unknown field) cuts the output at that point, as Go's ignored error does;
`render` reports the reason so the config check can warn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..gotemplate import ExecError
from ..gotemplate import render as go_render


class _GoMap:
    """A map field (Env): the engine prints mappings as structs, Go prints `map[k:v ...]` sorted by key."""

    def __init__(self, items: Mapping[str, Any]):
        self.items = dict(items)

    def go_string(self) -> str:
        return "map[" + " ".join(f"{k}:{self.items[k]}" for k in sorted(self.items)) + "]"


@dataclass(frozen=True)
class Rendered:
    text: str
    error: str | None = None  # the execution error that cut the output (Go ignores it silently)


def render(template: str, fields: Mapping[str, Any]) -> Rendered:
    """Execute `template` over Go field names -> values; ValueError on a parse error."""
    data = {k: _GoMap(v) if isinstance(v, Mapping) else v for k, v in fields.items()}
    try:
        return Rendered(go_render(template, data, html=True, strict=True, type_name="worker.mirrorConfig"))
    except ExecError as exc:
        return Rendered(exc.partial, exc.reason)
