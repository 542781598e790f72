"""How Go prints, tests and names values (fmt's %v, template truth, type names in error messages).

Values come from Python data: str, bool, int, float, None, datetime (Go time.Time), Enum members
(SyncStatus prints its string, as Go's Stringer does), lists, mappings (shown as Go structs), and
objects with a `go_string()` method (Stringers such as time.Month).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from ..models.timefmt import format_go_string


class GoStringer:
    """A small value with a Go String() method and an integer value (time.Month, time.Weekday)."""

    def __init__(self, number: int, text: str, type_name: str):
        self.number = number
        self.text = text
        self.type_name = type_name

    def go_string(self) -> str:
        return self.text

    def __int__(self) -> int:
        return self.number

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GoStringer):
            return self.number == other.number
        return self.number == other or self.text == other

    def __hash__(self) -> int:
        return hash(self.number)


def enum_index(v: Enum) -> int:
    return list(type(v)).index(v)


def type_name(v: Any, root_type: str | None = None) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Enum):
        return f"internal.{type(v).__name__}"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, datetime):
        return "time.Time"
    if isinstance(v, GoStringer):
        return v.type_name
    if isinstance(v, Mapping):
        return root_type or "struct"
    if isinstance(v, list | tuple):
        return "[]string" if v and all(isinstance(x, str) for x in v) else "[]interface {}"
    return type(v).__name__


def format_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """strconv.FormatFloat for 'g' with shortest precision (%v), plus Inf/NaN spelling."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if prec >= 0:
        return f"{f:.{prec}{verb}}"
    r = repr(f)
    mant, _, exp_s = r.partition("e")
    neg = mant.startswith("-")
    mant = mant.lstrip("-")
    int_part, _, frac = mant.partition(".")
    digits = (int_part + frac).lstrip("0") or "0"
    # decimal exponent of the first significant digit
    if int_part.strip("0"):
        exp10 = len(int_part.lstrip("0")) - 1
    else:
        exp10 = -(len(frac) - len(frac.lstrip("0"))) - 1 if frac.strip("0") else 0
    exp10 += int(exp_s or 0)
    digits = digits.rstrip("0") or "0"
    eprec = 6  # strconv: with the shortest precision the exponent switch happens at 6 digits
    sign = "-" if neg else ""
    if exp10 < -4 or exp10 >= eprec:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 >= 0:
        whole = digits[: exp10 + 1].ljust(exp10 + 1, "0")
        rest = digits[exp10 + 1 :]
        return sign + whole + ("." + rest if rest else "")
    return sign + "0." + "0" * (-exp10 - 1) + digits


def go_str(v: Any, root_type: str | None = None) -> str:
    """fmt.Sprint of one value."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Enum):
        return str(v.value)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v, "v")
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return format_go_string(v)
    if hasattr(v, "go_string"):
        text: str = v.go_string()
        return text
    if isinstance(v, Mapping):
        return "{" + " ".join(go_str(x) for x in v.values()) + "}"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def truth(v: Any) -> bool:
    """Go template truth: false, 0, nil, empty string/slice/map are false; structs (times too) are true."""
    if v is None:
        return False
    if isinstance(v, Enum):
        return enum_index(v) != 0
    if isinstance(v, datetime):
        return True
    if isinstance(v, GoStringer):
        return v.number != 0
    if isinstance(v, bool | int | float | str | list | tuple | dict):
        return bool(v)
    if isinstance(v, Mapping):
        return True
    return bool(v)
