"""Executing a parsed template over Python data, with Go's semantics and error texts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import ExecError, TemplateError
from .funcs import FUNCS, html_escape
from .gotime import TIME_METHODS
from .parse import (
    ActionN,
    BranchN,
    ChainN,
    CommandN,
    ConstN,
    DotN,
    FieldN,
    IdentN,
    LoopCtl,
    Node,
    PipeN,
    Text,
    VarN,
)
from .values import go_str, truth, type_name


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Fail(TemplateError):
    """A failure at `node`; turned into an ExecError naming the template position."""

    def __init__(self, node: Node, reason: str):
        super().__init__(reason)
        self.node = node


class Executor:
    def __init__(self, source: str, name: str, data: Any, *, html: bool, root_type: str | None):
        self.source = source
        self.name = name
        self.data = data
        self.html = html
        self.root_type = root_type
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = [("$", data)]

    def run(self, nodes: list[Node]) -> str:
        try:
            self.walk(nodes, self.data)
        except _Fail as f:
            raise ExecError(self._message(f.node, f.reason), "".join(self.out)) from None
        return "".join(self.out)

    def _message(self, node: Node, reason: str) -> str:
        before = self.source[: node.pos]
        line = before.count("\n") + 1
        col = node.pos - (before.rfind("\n") + 1)
        ctx = node.src if len(node.src) <= 20 else node.src[:20] + "..."
        return f'template: {self.name}:{line}:{col}: executing "{self.name}" at <{ctx}>: {reason}'

    # statements ----------------------------------------------------------------------------
    def walk(self, nodes: list[Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.out.append(node.text)
            elif isinstance(node, ActionN):
                assert node.pipe is not None
                mark = len(self.vars)
                val = self.pipe(node.pipe, dot)
                if not node.pipe.decls:
                    del self.vars[mark:]
                    if self.html and val is None:
                        continue  # html/template skips untyped nil instead of printing <nil> (Go issue 25875)
                    text = go_str(val, self.root_type)
                    self.out.append(html_escape(text) if self.html else text)
            elif isinstance(node, BranchN):
                self.branch(node, dot)
            elif isinstance(node, LoopCtl):
                raise _Break() if node.kind == "break" else _Continue()

    def branch(self, node: BranchN, dot: Any) -> None:
        assert node.pipe is not None
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            val = self.pipe(node.pipe, dot)
            if truth(val):
                self.walk(node.body, val if node.kind == "with" else dot)
            else:
                self.walk(node.else_body, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: BranchN, dot: Any) -> None:
        assert node.pipe is not None
        decls = node.pipe.decls
        val = self.pipe(node.pipe, dot, bind=False)  # range binds its variables per element
        if val is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(val, Mapping):
            items = [(k, val[k]) for k in sorted(val)]
        elif isinstance(val, list | tuple):
            items = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(i, i) for i in range(val)]
        else:
            raise _Fail(node.pipe, f"range can't iterate over {go_str(val)}")
        if not items:
            self.walk(node.else_body, dot)
            return
        mark = len(self.vars)
        for key, elem in items:
            del self.vars[mark:]
            if len(decls) == 1:
                self.vars.append((decls[0], elem))
            elif len(decls) == 2:
                self.vars.extend([(decls[0], key), (decls[1], elem)])
            try:
                self.walk(node.body, elem)
            except _Break:
                break
            except _Continue:
                continue

    # expressions ---------------------------------------------------------------------------
    def pipe(self, pipe: PipeN, dot: Any, bind: bool = True) -> Any:
        val: Any = None
        for k, cmd in enumerate(pipe.cmds):
            val = self.command(cmd, dot, val, has_final=k > 0)
        for name in pipe.decls if bind else ():
            if pipe.assign:
                for idx in range(len(self.vars) - 1, -1, -1):
                    if self.vars[idx][0] == name:
                        self.vars[idx] = (name, val)
                        break
                else:
                    raise _Fail(pipe, f"undefined variable: {name}")
            else:
                self.vars.append((name, val))
        return val

    def command(self, cmd: CommandN, dot: Any, final: Any, has_final: bool) -> Any:
        first = cmd.args[0]
        extra = [self.arg(a, dot) for a in cmd.args[1:]]
        if has_final:
            extra.append(final)
        if isinstance(first, IdentN):
            return self.call(first, extra, cmd)
        if isinstance(first, ConstN) and first.src == "nil":
            raise _Fail(first, "nil is not a command")
        if isinstance(first, FieldN):
            return self.chain(first, dot, first.names, extra)
        if isinstance(first, VarN) and first.names:
            return self.chain(first, self.var(first), first.names, extra)
        if isinstance(first, ChainN) and first.names:
            assert first.pipe is not None
            return self.chain(first, self.pipe(first.pipe, dot), first.names, extra)
        if extra:
            raise _Fail(first, f"can't give argument to non-function {first.src}")
        return self.arg(first, dot)

    def arg(self, node: Node, dot: Any) -> Any:
        if isinstance(node, ConstN):
            return node.value
        if isinstance(node, DotN):
            return dot
        if isinstance(node, FieldN):
            return self.chain(node, dot, node.names, [])
        if isinstance(node, VarN):
            return self.chain(node, self.var(node), node.names, [])
        if isinstance(node, ChainN):
            assert node.pipe is not None
            mark = len(self.vars)
            val = self.pipe(node.pipe, dot)
            del self.vars[mark:]
            return self.chain(node, val, node.names, [])
        if isinstance(node, IdentN):
            return self.call(node, [], node)
        raise _Fail(node, "can't evaluate node")

    def var(self, node: VarN) -> Any:
        for name, val in reversed(self.vars):
            if name == node.name:
                return val
        raise _Fail(node, f"undefined variable: {node.name}")

    def call(self, node: IdentN, args: list[Any], at: Node) -> Any:
        """Call a builtin; errors point at the whole command, as Go's do."""
        fn, lo, hi = FUNCS[node.name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = str(lo) if hi == lo else f"at least {lo}"
            raise _Fail(at, f"wrong number of args for {node.name}: want {want} got {len(args)}")
        try:
            return fn(*args)
        except TemplateError as exc:
            raise _Fail(at, f"error calling {node.name}: {exc.reason}") from None

    def chain(self, node: Node, recv: Any, names: list[str], args: list[Any]) -> Any:
        for k, name in enumerate(names):
            last = k == len(names) - 1
            recv = self.field(node, recv, name, args if last else [])
        return recv

    def field(self, node: Node, recv: Any, name: str, args: list[Any]) -> Any:
        if recv is None:
            raise _Fail(node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(recv, datetime):
            if name not in TIME_METHODS:
                raise _Fail(node, f"can't evaluate field {name} in type time.Time")
            fn, nargs = TIME_METHODS[name]
            if len(args) != nargs:
                raise _Fail(node, f"wrong number of args for {name}: want {nargs} got {len(args)}")
            if nargs and not all(isinstance(a, str) for a in args):
                raise _Fail(node, f"wrong type for value; expected string; got {type_name(args[0])}")
            return fn(recv, *args)
        if isinstance(recv, Mapping):
            if name not in recv:
                root = self.root_type if recv is self.data else None
                raise _Fail(node, f"can't evaluate field {name} in type {type_name(recv, root)}")
            if args:
                raise _Fail(node, f"{name} has arguments but cannot be invoked as function")
            return recv[name]
        if not name.startswith("_") and not isinstance(recv, str | int | float | list | tuple) and hasattr(recv, name):
            val = getattr(recv, name)
            if callable(val):
                return val(*args)
            if args:
                raise _Fail(node, f"{name} has arguments but cannot be invoked as function")
            return val
        raise _Fail(node, f"can't evaluate field {name} in type {type_name(recv)}")
