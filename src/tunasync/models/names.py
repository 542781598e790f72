"""Which mirror names and worker IDs the manager accepts, and how untrusted text is printed in logs.

A name (mirror name or worker ID) is at most `MAX_NAME` characters, holds no control, format or
line-separator characters (Unicode Cc, Cf, Zl, Zp: newlines, ESC, bidi overrides, U+2028), no `/`,
and is not `.` or `..`. Go accepts any string; these rules refuse only names that a Go worker could
not have used either (a name is a URL path segment of the status routes and a directory name), or
that would forge log lines and metric labels.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 128
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_NOT_PLAIN = re.compile(r"[^\x20-\x7e]")  # anything but printable ASCII: look closer
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsafe_char(c: str) -> bool:
    """A character that must never be printed raw (it moves the cursor, ends a line, hides text)."""
    return unicodedata.category(c) in _UNSAFE_CATEGORIES


def name_problem(name: str, what: str = "mirror name") -> str | None:
    """Why `name` is refused (a reason for a 400), or None when it is acceptable. Empty is the
    caller's business (the routes keep Go's own messages for it)."""
    if len(name) > MAX_NAME:
        return f"{what} too long ({len(name)} characters, at most {MAX_NAME})"
    if name in (".", ".."):
        return f"{what} {name!r} is not allowed"
    if "/" in name:
        return f"{what} {escape_text(name)!r} must not contain '/'"
    if _NOT_PLAIN.search(name) and any(unsafe_char(c) for c in name):
        return f"{what} {escape_text(name)!r} must not contain control or format characters"
    return None


def _escape_char(c: str) -> str:
    if not unsafe_char(c):
        return c
    short = _SHORT.get(c)
    if short is not None:
        return short
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else (f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")


def escape_text(text: str) -> str:
    """`text` with every unsafe character written as a backslash escape (`\\n`, `\\x1b`, `\\u2028`)."""
    if _NOT_PLAIN.search(text) is None:
        return text
    return "".join(_escape_char(c) for c in text)
