"""Go's fmt.Sprintf / Sprint / Sprintln for template `printf`, `print`, `println`.

Verbs: %v %s %q %d %x %X %o %b %c %U %t %f %F %e %E %g %G %T %%; flags `-+# 0`; width and precision
(also `*`). Wrong or missing arguments print Go's `%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import Enum
from typing import Any

from .values import GoStringer, enum_index, format_float, go_str, type_name

_SPEC = re.compile(r"%([-+# 0]*)(\*|\d+)?(\.(\*|\d+)?)?(.?)", re.S)


def quote(s: str) -> str:
    """strconv.Quote (close enough: JSON escaping with Go's \\x/\\u forms for controls)."""
    out = json.dumps(s, ensure_ascii=False)
    return re.sub(r"\\u00([0-1][0-9a-f])", lambda m: "\\x" + m.group(1), out)


def _is_stringer(v: Any) -> bool:
    return isinstance(v, datetime | Enum | GoStringer)


def _pad(s: str, width: int | None, flags: str, numeric: bool = False) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s.ljust(width)
    if "0" in flags and numeric:
        sign = s[0] if s[:1] in "+-" else ""
        body = s[len(sign):]
        return sign + body.rjust(width - len(sign), "0")
    return s.rjust(width)


def _bad(verb: str, v: Any) -> str:
    if v is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(v)}={go_str(v)})"


def _int(v: int, verb: str, flags: str, prec: int | None) -> str | None:
    sign = "-" if v < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
    a = abs(v)
    if verb in "dv":
        body = str(a)
    elif verb == "x":
        body = ("0x" if "#" in flags else "") + format(a, "x")
    elif verb == "X":
        body = ("0X" if "#" in flags else "") + format(a, "X")
    elif verb == "o":
        body = ("0" if "#" in flags else "") + format(a, "o")
    elif verb == "O":
        body = "0o" + format(a, "o")
    elif verb == "b":
        body = format(a, "b")
    elif verb == "c":
        return chr(v)
    elif verb == "q":
        return "'" + chr(v) + "'"
    elif verb == "U":
        return f"U+{v:04X}"
    else:
        return None
    if prec is not None and verb in "dxXob":
        body = body.rjust(prec, "0")
    return sign + body


def _float(v: float, verb: str, flags: str, prec: int | None) -> str | None:
    sign = "+" if "+" in flags and v >= 0 else ""
    if verb in "vgG":
        s = format_float(v, "g") if prec is None else format_float(v, "g", prec)
        s = s.upper() if verb == "G" else s
    elif verb in "fF":
        s = f"{v:.{6 if prec is None else prec}f}"
    elif verb in "eE":
        s = f"{v:.{6 if prec is None else prec}{verb}}"
    else:
        return None
    return sign + s


def format_one(verb: str, flags: str, width: int | None, prec: int | None, v: Any) -> str:
    numeric = False
    if verb == "T":
        s = type_name(v)
    elif isinstance(v, bool):
        s = ("true" if v else "false") if verb in "vt" else _bad(verb, v)
    elif isinstance(v, Enum) and verb in "dxXob":
        s, numeric = _int(enum_index(v), verb, flags, prec) or _bad(verb, v), True
    elif _is_stringer(v) and verb in "vsq":
        s = go_str(v)
        s = s[:prec] if prec is not None and verb != "q" else s
        s = quote(s) if verb == "q" else s
    elif isinstance(v, int):
        r = _int(v, verb, flags, prec)
        s, numeric = (r, True) if r is not None else (_bad(verb, v), False)
    elif isinstance(v, float):
        r = _float(v, verb, flags, prec)
        s, numeric = (r, True) if r is not None else (_bad(verb, v), False)
    elif isinstance(v, str):
        if verb in "vs":
            s = v if prec is None else v[:prec]
        elif verb == "q":
            s = quote(v if prec is None else v[:prec])
        elif verb in "xX":
            s = v.encode().hex()
            s = s.upper() if verb == "X" else s
        else:
            s = _bad(verb, v)
    elif v is None:
        s = "<nil>" if verb == "v" else _bad(verb, v)
    elif isinstance(v, list | tuple):
        return "[" + " ".join(format_one(verb, flags, width, prec, x) for x in v) + "]"
    elif verb in "vs":
        s = go_str(v)
    else:
        s = _bad(verb, v)
    return _pad(s, width, flags, numeric)


def sprintf(fmt: str, args: list[Any]) -> str:
    out: list[str] = []
    argi = 0
    i = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        m = _SPEC.match(fmt, j)
        assert m is not None
        flags, w, dot, p, verb = m.groups()
        i = m.end()
        if verb == "%":
            out.append("%")
            continue
        if verb == "":
            out.append("%!(NOVERB)")
            break
        width = prec = None
        if w == "*":
            width = int(args[argi]) if argi < len(args) and isinstance(args[argi], int) else None
            argi += 1
        elif w:
            width = int(w)
        if p == "*":
            prec = int(args[argi]) if argi < len(args) and isinstance(args[argi], int) else None
            argi += 1
        elif dot:
            prec = int(p) if p else 0
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(format_one(verb, flags, width, prec, args[argi]))
        argi += 1
    if argi < len(args):
        extra = ", ".join(f"{type_name(a)}={go_str(a)}" if a is not None else "<nil>" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def sprint(args: list[Any]) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for k, a in enumerate(args):
        if k > 0 and not isinstance(a, str) and not isinstance(args[k - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(go_str(a) for a in args) + "\n"
