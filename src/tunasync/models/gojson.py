"""JSON bytes as Go's encoding/json writes them: compact, struct field order, HTML-safe escapes."""

from __future__ import annotations

import json
from typing import Any

_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps(obj: Any) -> str:
    """Compact JSON with Go's escaping of <, >, & and U+2028/9 (inside strings only, where they can occur)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).translate(_ESCAPES)


def dumps_indent(obj: Any) -> str:
    """Go's json.MarshalIndent(v, "", "  ") (tunasynctl output)."""
    if obj is None:
        return "null"
    return json.dumps(obj, indent=2, ensure_ascii=False).translate(_ESCAPES)
