"""The builtin functions of Go text/template that make sense over our data."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from .errors import TemplateError
from .gofmt import sprint, sprintf, sprintln
from .values import GoStringer, enum_index, go_str, truth, type_name


def text_html_escape(s: str) -> str:
    """text/template's `html` builtin (template.HTMLEscapeString): like html_escape but `+` stays."""
    return html_escape(s).replace("&#43;", "+")


def html_escape(s: str) -> str:
    """Go's template.HTMLEscapeString / html/template text escaper: & ' " < > + and NUL."""
    return (
        s.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("+", "&#43;")
        .replace("\0", "\ufffd")
    )


def _printf(*args: Any) -> str:
    if not args or not isinstance(args[0], str):
        raise TemplateError("wrong type for value; expected string; got " + (type_name(args[0]) if args else "nothing"))
    return sprintf(args[0], list(args[1:]))


def _len(v: Any) -> int:
    if isinstance(v, str | list | tuple | Mapping):
        return len(v.encode() if isinstance(v, str) else v)
    raise TemplateError(f"len of type {type_name(v)}")


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, Mapping):
            v = v.get(k)
        elif isinstance(v, list | tuple | str):
            if not isinstance(k, int) or isinstance(k, bool):
                raise TemplateError(f"cannot index slice/array with type {type_name(k)}")
            if not 0 <= k < len(v):
                raise TemplateError(f"index out of range: {k}")
            v = v[k] if not isinstance(v, str) else v.encode()[k]
        else:
            raise TemplateError(f"can't index item of type {type_name(v)}")
    return v


def _slice(v: Any, *idx: Any) -> Any:
    if not isinstance(v, str | list | tuple):
        raise TemplateError(f"can't slice item of type {type_name(v)}")
    if len(idx) > 2:
        raise TemplateError("too many slice indexes")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(v)
    if not 0 <= lo <= hi <= len(v):
        raise TemplateError(f"index out of range: {lo}:{hi}")
    return v[lo:hi]


def _basic(v: Any) -> Any:
    """Comparable form: enums and Stringers compare by their string (Go compares same-typed values)."""
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, GoStringer):
        return v.number
    return v


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "nil"
    if isinstance(v, datetime):
        return "time"
    return "other"


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Comparable forms: a SyncStatus (Go uint8 with String()) compares with ints by number, else by text."""
    def one(x: Any, other: Any) -> Any:
        if isinstance(x, Enum) and isinstance(other, int) and not isinstance(other, bool):
            return enum_index(x)
        return _basic(x)

    return one(a, b), one(b, a)


def _eq(a0: Any, *bs: Any) -> bool:
    if not bs:
        raise TemplateError("missing argument for comparison")
    for b0 in bs:
        a, b = _pair(a0, b0)
        if _kind(a) != _kind(b) and "nil" not in (_kind(a), _kind(b)):
            raise TemplateError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    a, b = _pair(a, b)
    if _kind(a) != _kind(b) or _kind(a) not in ("number", "string", "time"):
        raise TemplateError("incompatible types for comparison")
    return bool(a < b)


def _and(*args: Any) -> Any:
    for a in args:
        if not truth(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if truth(a):
            return a
    return args[-1]


def _js(*args: Any) -> str:
    s = sprint(list(args))
    table = {"\\": "\\\\", "'": "\\'", '"': "\\\"", "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D",
             "\n": "\\u000A", "\r": "\\u000D", "\t": "\\u0009"}
    return "".join(table.get(c, c) for c in s)


# name -> (function, minimum number of arguments, maximum or None)
FUNCS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "printf": (_printf, 1, None),
    "print": (lambda *a: sprint(list(a)), 0, None),
    "println": (lambda *a: sprintln(list(a)), 0, None),
    "len": (_len, 1, 1),
    "index": (_index, 1, None),
    "slice": (_slice, 1, None),
    "not": (lambda a: not truth(a), 1, 1),
    "and": (_and, 1, None),
    "or": (_or, 1, None),
    "eq": (_eq, 1, None),
    "ne": (lambda a, b: not _eq(a, b), 2, 2),
    "lt": (_lt, 2, 2),
    "le": (lambda a, b: _lt(a, b) or _eq(a, b), 2, 2),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), 2, 2),
    "ge": (lambda a, b: not _lt(a, b), 2, 2),
    "html": (lambda *a: text_html_escape(sprint(list(a))), 0, None),
    "urlquery": (lambda *a: urllib.parse.quote_plus(sprint(list(a))), 0, None),
    "js": (_js, 0, None),
}

__all__ = ["FUNCS", "html_escape", "go_str"]
