"""Command-line splitting as anmitsu/go-shlex in POSIX mode (docs/compat.md §4.5).

Whitespace (Go's unicode.IsSpace, so a no-break space too) separates words; single quotes are literal; inside double quotes a backslash escapes only
`"` and `\\` (other backslashes stay); outside quotes a backslash escapes the next character. No
variable expansion, globbing or comments. Unlike Python's `shlex.split`, empty words (`''`) are
dropped, as go-shlex does. An unclosed quote or a trailing backslash is a ValueError.
"""

from __future__ import annotations

# Go's unicode.IsSpace, which go-shlex's DefaultTokenizer.IsWhitespace uses (shlex.go): the ASCII
# spaces, NEL and NO-BREAK SPACE, and the Unicode White_Space characters (not Python's \x1c-\x1f).
_SPACE = frozenset(" \t\n\v\f\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                   + "".join(chr(c) for c in range(0x2000, 0x200B)))


def split(text: str) -> list[str]:
    """Split `text` into argv words, Go tunasync style."""
    words: list[str] = []
    word: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _SPACE:
            _flush(words, word)
            word = []
            i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise ValueError("EOF found after escape character")
            word.append(text[i + 1])
            i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ValueError("EOF found when expecting closing quote")
            word.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("EOF found when expecting closing quote")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    word.append(text[i + 1])
                    i += 2
                    continue
                word.append(c)
                i += 1
        else:
            word.append(c)
            i += 1
    _flush(words, word)
    return words


def _flush(words: list[str], word: list[str]) -> None:
    text = "".join(word)
    if text:  # go-shlex drops empty words ('' or "")
        words.append(text)
