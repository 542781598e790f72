"""Lexer for the Go text/template subset: text, `{{ }}` actions, trim markers, comments, tokens.

Positions are character offsets into the template source; errors carry Go's `template: NAME:LINE: reason`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import TemplateError

SPACE = " \t\r\n"
KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block", "nil",
            "true", "false"}

_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*")
_VAR = re.compile(r"\$[A-Za-z0-9_]*")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_CHAR = re.compile(r"'(?:[^'\\\n]|\\.)+'")


@dataclass(frozen=True)
class Tok:
    kind: str  # text | left | right | field | var | ident | string | raw | char | number | dot | lparen
    #            | rparen | pipe | declare | assign | comma | space
    value: str
    pos: int


def line_of(source: str, pos: int) -> int:
    return source.count("\n", 0, pos) + 1


def lex(source: str, name: str = "") -> list[Tok]:
    """Split a template into tokens; raises TemplateError like Go's parser does for lexical errors."""
    toks: list[Tok] = []
    i, n = 0, len(source)

    def fail(pos: int, reason: str) -> TemplateError:
        return TemplateError(f"template: {name}:{line_of(source, pos)}: {reason}")

    while i < n:
        j = source.find("{{", i)
        if j < 0:
            toks.append(Tok("text", source[i:], i))
            break
        text = source[i:j]
        trim_left = source.startswith("{{-", j) and j + 3 < n and source[j + 3] in SPACE
        if trim_left:
            text = text.rstrip(SPACE)
        if text:
            toks.append(Tok("text", text, i))
        k = j + (4 if trim_left else 2)
        # A comment is the whole action: {{/* ... */}}
        ws = k
        while trim_left and ws < n and source[ws] in SPACE:
            ws += 1
        if source.startswith("/*", ws if trim_left else k):
            start = ws if trim_left else k
            end = source.find("*/", start + 2)
            if end < 0:
                raise fail(j, "unclosed comment")
            after = end + 2
            trim_right, close = _right_delim(source, after)
            if close < 0:
                raise fail(j, "comment ends before closing delimiter")
            i = _skip_trimmed(source, close, trim_right)
            continue
        toks.append(Tok("left", "{{", j))
        i = _lex_action(source, k, toks, fail)
    return toks


def _right_delim(source: str, p: int) -> tuple[bool, int]:
    """At p (after optional spaces) is there ` -}}` or `}}`? Returns (trim, index after the delimiter) or -1."""
    q = p
    while q < len(source) and source[q] in SPACE:
        q += 1
    if q > p and source.startswith("-}}", q):
        return True, q + 3
    if source.startswith("}}", q):
        return False, q + 2
    return False, -1


def _skip_trimmed(source: str, p: int, trim: bool) -> int:
    if trim:
        while p < len(source) and source[p] in SPACE:
            p += 1
    return p


def _lex_action(source: str, i: int, toks: list[Tok], fail: Callable[[int, str], TemplateError]) -> int:
    n = len(source)
    while True:
        if i >= n:
            raise fail(i, "unclosed action")
        c = source[i]
        if c in SPACE:
            j = i
            while j < n and source[j] in SPACE:
                j += 1
            if source.startswith("-}}", j):
                toks.append(Tok("right", "}}", j))
                return _skip_trimmed(source, j + 3, True)
            if c in "\r\n" or "\n" in source[i:j]:
                # Go allows newlines inside actions since 1.16; treat them as spaces.
                pass
            toks.append(Tok("space", " ", i))
            i = j
            continue
        if source.startswith("}}", i):
            toks.append(Tok("right", "}}", i))
            return i + 2
        if c == "|":
            toks.append(Tok("pipe", "|", i))
            i += 1
        elif c == "(":
            toks.append(Tok("lparen", "(", i))
            i += 1
        elif c == ")":
            toks.append(Tok("rparen", ")", i))
            i += 1
        elif c == ",":
            toks.append(Tok("comma", ",", i))
            i += 1
        elif source.startswith(":=", i):
            toks.append(Tok("declare", ":=", i))
            i += 2
        elif c == "=":
            toks.append(Tok("assign", "=", i))
            i += 1
        elif c == '"':
            m = _STRING.match(source, i)
            if not m:
                raise fail(i, "unterminated quoted string")
            toks.append(Tok("string", m.group(), i))
            i = m.end()
        elif c == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise fail(i, "unterminated raw quoted string")
            toks.append(Tok("raw", source[i + 1 : end], i))
            i = end + 1
        elif c == "'":
            m = _CHAR.match(source, i)
            if not m:
                raise fail(i, "unterminated character constant")
            toks.append(Tok("char", m.group(), i))
            i = m.end()
        elif c == "$":
            m = _VAR.match(source, i)
            assert m is not None
            toks.append(Tok("var", m.group(), i))
            i = m.end()
        elif c == "." and i + 1 < n and source[i + 1].isdigit() or c.isdigit() or (
            c in "+-" and i + 1 < n and (source[i + 1].isdigit() or source[i + 1] == ".")
        ):
            m = _NUMBER.match(source, i)
            if not m:
                raise fail(i, f"bad number syntax: {source[i:i + 10]!r}")
            toks.append(Tok("number", m.group(), i))
            i = m.end()
        elif c == ".":
            m = _FIELD.match(source, i)
            if m:
                toks.append(Tok("field", m.group()[1:], i))
                i = m.end()
            else:
                toks.append(Tok("dot", ".", i))
                i += 1
        elif _IDENT.match(source, i):
            m = _IDENT.match(source, i)
            assert m is not None
            toks.append(Tok("ident", m.group(), i))
            i = m.end()
        else:
            raise fail(i, f"unexpected {c!r} in command" if c != "}" else 'unexpected "}" in operand')
