"""The subset of Go html/template that `log_dir` uses (spec §4.4, quirk 24).

`{{.Name}}` and any other Go field name of the mirror config (`{{ .Provider }}`, `{{- .Name -}}`,
comments `{{/* ... */}}`) are substituted; values are printed as Go's fmt does (`[a b]` for lists,
`map[k:v]` for maps, `true`, numbers) and then HTML-escaped as html/template escapes text:
`& ' " < > +` and NUL. So a mirror named `c++` logs under `.../c&#43;&#43;` exactly as Go does
(quirk 24: kept, existing log directories stay where they are).

Parse errors (an unclosed `{{`, an empty action, anything beyond field access such as `{{if}}`)
raise ValueError; the loader turns them into ConfigErrors (Go panics at startup). An unknown field
truncates the output at that point, as Go's ignored execution error does; `render` reports it so the
config check can warn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ESCAPES = {"&": "&amp;", "'": "&#39;", '"': "&#34;", "<": "&lt;", ">": "&gt;", "+": "&#43;", "\0": "\ufffd"}
_FIELD = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_]*)$")


def html_escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def go_sprint(value: Any) -> str:
    """fmt.Sprint of a config value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(value[k])}" for k in sorted(value)) + "]"
    if value is None:
        return "<nil>"
    return str(value)


@dataclass(frozen=True)
class Rendered:
    text: str
    unknown_field: str | None = None  # the field that stopped execution, as Go silently does


def parse(template: str) -> list[tuple[str, str]]:
    """Split into ("text", literal) and ("field", Name) parts; ValueError on a parse error."""
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            parts.append(("text", template[pos:]))
            return [p for p in parts if p != ("text", "")]
        text = template[pos:start]
        end = template.find("}}", start + 2)
        if end < 0:
            raise ValueError(f"unclosed action at offset {start}")
        action = template[start + 2 : end]
        pos = end + 2
        # "{{- " and " -}}" trim the whitespace next to the action, as in Go.
        if action.startswith("- ") or action == "-":
            text = text.rstrip()
            action = action[1:]
        if action.endswith(" -"):
            action = action[:-1]
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
        parts.append(("text", text))
        action = action.strip()
        if action.startswith("/*") and action.endswith("*/"):
            continue
        if not action:
            raise ValueError(f"missing value for command at offset {start}")
        m = _FIELD.match(action)
        if m is None:
            raise ValueError(f"unsupported action {{{{{action}}}}} (only {{{{.Field}}}} is supported)")
        parts.append(("field", m.group(1)))


def render(template: str, fields: Mapping[str, Any]) -> Rendered:
    """Execute `template` over Go field names -> values; ValueError on a parse error."""
    out: list[str] = []
    for kind, value in parse(template):
        if kind == "text":
            out.append(value)
        elif value in fields:
            out.append(html_escape(go_sprint(fields[value])))
        else:
            return Rendered("".join(out), value)
    return Rendered("".join(out))
