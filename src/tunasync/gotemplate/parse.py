"""Parser: tokens → a tree of nodes (Go text/template's `parse` package, the subset we support).

Supported: text, `{{pipeline}}`, `{{if}}/{{else if}}/{{else}}/{{end}}`, `{{with}}`, `{{range}}` (with
`$i, $e :=`), `{{break}}`, `{{continue}}`, variables (`$`, `$x := ...`, `$x = ...`), parenthesised
pipelines, `|` chains, string/raw/char/number/bool/nil constants, and the builtin functions of `funcs`.
Not supported (a clear parse error): `define`, `template`, `block`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import TemplateError
from .funcs import FUNCS
from .lex import Tok, lex, line_of


@dataclass
class Node:
    pos: int
    src: str = ""


@dataclass
class Text(Node):
    text: str = ""


@dataclass
class FieldN(Node):
    names: list[str] = field(default_factory=list)


@dataclass
class VarN(Node):
    name: str = "$"
    names: list[str] = field(default_factory=list)


@dataclass
class DotN(Node):
    pass


@dataclass
class IdentN(Node):
    name: str = ""


@dataclass
class ConstN(Node):
    value: object = None


@dataclass
class ChainN(Node):
    pipe: PipeN | None = None
    names: list[str] = field(default_factory=list)


@dataclass
class CommandN(Node):
    args: list[Node] = field(default_factory=list)


@dataclass
class PipeN(Node):
    decls: list[str] = field(default_factory=list)
    assign: bool = False
    cmds: list[CommandN] = field(default_factory=list)


@dataclass
class ActionN(Node):
    pipe: PipeN | None = None


@dataclass
class BranchN(Node):
    kind: str = "if"  # if | with | range
    pipe: PipeN | None = None
    body: list[Node] = field(default_factory=list)
    else_body: list[Node] = field(default_factory=list)


@dataclass
class LoopCtl(Node):
    kind: str = "break"


_ESC = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}


def unquote(s: str) -> str:
    """Go strconv.Unquote for "..." and '...' bodies (quotes included in s)."""

    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in _SIMPLE:
            return _SIMPLE[e]
        if e[0] in "xuU":
            return chr(int(e[1:], 16))
        if e[0] in "01234567" and len(e) == 3:
            return chr(int(e, 8))
        raise ValueError(f"unknown escape sequence \\{e}")

    return _ESC.sub(sub, s[1:-1])


def parse_number(text: str) -> int | float:
    t = text.replace("_", "")
    if re.fullmatch(r"[+-]?0[0-7]+", t):
        return int(t, 8)
    try:
        return int(t, 0)
    except ValueError:
        return float(t)


class Parser:
    def __init__(self, source: str, name: str):
        self.source = source
        self.name = name
        self.toks = lex(source, name)
        self.i = 0
        self.range_depth = 0
        self.vars: list[str] = ["$"]  # declared variables in scope (Go checks uses at parse time)

    # token helpers -------------------------------------------------------------------------
    def fail(self, pos: int, reason: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{line_of(self.source, pos)}: {reason}")

    def peek(self, skip_space: bool = True) -> Tok | None:
        j = self.i
        while skip_space and j < len(self.toks) and self.toks[j].kind == "space":
            j += 1
        return self.toks[j] if j < len(self.toks) else None

    def next(self, skip_space: bool = True) -> Tok:
        while skip_space and self.i < len(self.toks) and self.toks[self.i].kind == "space":
            self.i += 1
        if self.i >= len(self.toks):
            raise self.fail(len(self.source), "unexpected EOF")
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect_right(self, what: str) -> None:
        t = self.next()
        if t.kind != "right":
            raise self.fail(t.pos, f"unexpected {t.value!r} in {what}")

    # structure -----------------------------------------------------------------------------
    def parse(self) -> list[Node]:
        body, stop, tok = self.parse_list()
        if stop is not None:
            raise self.fail(tok.pos, f"unexpected {{{{{stop}}}}}")
        return body

    def parse_list(self) -> tuple[list[Node], str | None, Tok]:
        """Nodes until `{{end}}`, `{{else ...}}` or EOF; returns (nodes, terminator, its token)."""
        out: list[Node] = []
        while self.i < len(self.toks):
            t = self.next(skip_space=False)
            if t.kind == "text":
                out.append(Text(t.pos, t.value, text=t.value))
                continue
            kw = self.peek()
            if kw is not None and kw.kind == "ident" and kw.value in ("end", "else"):
                self.next()
                if kw.value == "end":
                    self.expect_right("end")
                return out, kw.value, kw
            if kw is not None and kw.kind == "ident" and kw.value in ("if", "with", "range"):
                self.next()
                out.append(self.parse_branch(kw))
            elif kw is not None and kw.kind == "ident" and kw.value in ("break", "continue"):
                self.next()
                if not self.range_depth:
                    raise self.fail(kw.pos, f"{{{{{kw.value}}}}} outside {{{{range}}}}")
                self.expect_right(kw.value)
                out.append(LoopCtl(kw.pos, kw.value, kind=kw.value))
            elif kw is not None and kw.kind == "ident" and kw.value in ("define", "template", "block"):
                raise self.fail(kw.pos, f"{{{{{kw.value}}}}} is not supported by this template engine")
            else:
                pipe = self.parse_pipe("command", end="right")
                out.append(ActionN(t.pos, pipe.src, pipe=pipe))
        return out, None, Tok("text", "", len(self.source))

    def parse_branch(self, kw: Tok) -> BranchN:
        kind = kw.value
        mark = len(self.vars)
        try:
            return self._parse_branch(kw, kind)
        finally:
            del self.vars[mark:]  # variables declared in a control structure end with it

    def _parse_branch(self, kw: Tok, kind: str) -> BranchN:
        pipe = self.parse_pipe(kind, end="right")
        if kind == "range":
            self.range_depth += 1
        body, stop, tok = self.parse_list()
        if kind == "range":
            self.range_depth -= 1
        node = BranchN(kw.pos, pipe.src, kind=kind, pipe=pipe, body=body)
        if stop is None:
            raise self.fail(len(self.source), "unexpected EOF")
        if stop == "else":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "ident" and nxt.value in ("if", "with") and kind != "range":
                # {{else if p}} ... is {{else}}{{if p}} ... {{end}}{{end}}, sharing the final {{end}}.
                self.next()
                node.else_body = [self.parse_branch(nxt)]
                return node
            self.expect_right("else")
            else_body, stop2, tok2 = self.parse_list()
            if stop2 != "end":
                raise self.fail(tok2.pos, "expected end; found " + (f"{{{{{stop2}}}}}" if stop2 else "EOF"))
            node.else_body = else_body
        return node

    def parse_pipe(self, context: str, end: str) -> PipeN:
        start_tok = self.peek()
        start = start_tok.pos if start_tok else len(self.source)
        pipe = PipeN(start)
        self._parse_decls(pipe, context)
        nxt = self.peek()
        if nxt is not None and nxt.kind == end:
            raise self.fail(nxt.pos, f"missing value for {context}")
        while True:
            cmd = self.parse_command(end)
            pipe.cmds.append(cmd)
            t = self.next()
            if t.kind == "pipe":
                continue
            if t.kind == end:
                pipe.src = self.source[start:t.pos].strip()
                break
            raise self.fail(t.pos, f"unexpected {t.value!r} in {context}")
        if not pipe.cmds or not pipe.cmds[0].args:
            raise self.fail(start, f"missing value for {context}")
        return pipe

    def _parse_decls(self, pipe: PipeN, context: str) -> None:
        save = self.i
        names: list[str] = []
        while True:
            t = self.peek()
            if t is None or t.kind != "var":
                break
            self.next()
            names.append(t.value)
            op = self.peek()
            if op is not None and op.kind in ("declare", "assign"):
                self.next()
                pipe.decls, pipe.assign = names, op.kind == "assign"
                if len(names) > 2 or (len(names) == 2 and context != "range"):
                    raise self.fail(t.pos, "too many declarations in " + context)
                for name in names:
                    if pipe.assign and name not in self.vars:
                        raise self.fail(t.pos, f'undefined variable "{name}"')
                    if not pipe.assign:
                        self.vars.append(name)
                return
            if op is not None and op.kind == "comma" and context == "range":
                self.next()
                continue
            break
        self.i = save

    def parse_command(self, end: str) -> CommandN:
        first = self.peek()
        cmd = CommandN(first.pos if first else len(self.source))
        while True:
            t = self.peek()
            if t is None:
                raise self.fail(len(self.source), "unclosed action")
            if t.kind in ("pipe", "right", "rparen"):
                if not cmd.args:
                    raise self.fail(t.pos, "missing value for command")
                cmd.src = self.source[cmd.pos:t.pos].strip()
                return cmd
            cmd.args.append(self.parse_operand())

    def parse_operand(self) -> Node:
        t = self.next()
        node: Node
        if t.kind == "field":
            more_at = self.toks[self.i].pos if self.i < len(self.toks) else t.pos
            names = [t.value] + self._chain()
            # Go positions a field chain `.A.B` at its second field (parse.ChainNode's position)
            node = FieldN(t.pos if len(names) == 1 else more_at, "." + ".".join(names), names=names)
        elif t.kind == "dot":
            node = DotN(t.pos, ".")
        elif t.kind == "var":
            if t.value not in self.vars:
                raise self.fail(t.pos, f'undefined variable "{t.value}"')
            more_at = self.toks[self.i].pos if self.i < len(self.toks) else t.pos
            names = self._chain()
            node = VarN(more_at if names else t.pos, t.value + "".join("." + n for n in names), name=t.value,
                        names=names)
        elif t.kind == "ident":
            if t.value in ("true", "false"):
                node = ConstN(t.pos, t.value, value=t.value == "true")
            elif t.value == "nil":
                node = ConstN(t.pos, "nil", value=None)
            elif t.value in FUNCS:
                node = IdentN(t.pos, t.value, name=t.value)
            else:
                raise self.fail(t.pos, f'function "{t.value}" not defined')
        elif t.kind == "string":
            try:
                node = ConstN(t.pos, t.value, value=unquote(t.value))
            except ValueError as exc:
                raise self.fail(t.pos, str(exc)) from None
        elif t.kind == "raw":
            node = ConstN(t.pos, "`" + t.value + "`", value=t.value)
        elif t.kind == "char":
            try:
                ch = unquote(t.value)
            except ValueError as exc:
                raise self.fail(t.pos, str(exc)) from None
            if len(ch) != 1:
                raise self.fail(t.pos, f"malformed character constant: {t.value}")
            node = ConstN(t.pos, t.value, value=ord(ch))
        elif t.kind == "number":
            try:
                node = ConstN(t.pos, t.value, value=parse_number(t.value))
            except ValueError:
                raise self.fail(t.pos, f"bad number syntax: {t.value!r}") from None
        elif t.kind == "lparen":
            pipe = self.parse_pipe("parenthesized pipeline", end="rparen")
            names = self._chain()
            node = ChainN(t.pos, "(" + pipe.src + ")" + "".join("." + n for n in names), pipe=pipe, names=names)
        else:
            raise self.fail(t.pos, f"unexpected {t.value!r} in operand")
        return node

    def _chain(self) -> list[str]:
        """Field names written directly after a term (`$x.A.B`, `(pipe).A`)."""
        names: list[str] = []
        while self.i < len(self.toks) and self.toks[self.i].kind == "field":
            names.append(self.toks[self.i].value)
            self.i += 1
        return names


def parse_tree(source: str, name: str = "") -> list[Node]:
    return Parser(source, name).parse()
