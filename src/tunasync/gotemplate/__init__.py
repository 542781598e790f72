"""A Go text/template (and html/template text-context) engine for tunasynctl `--format` and log_dir.

    render("{{.Name}}: {{printf \\"%-8s\\" .Status}}", {"Name": "debian", "Status": SyncStatus.SUCCESS})

The supported subset (see `parse.py`): fields `.A.B`, `$` variables, `|` pipelines, `if/else if/else`,
`with`, `range`, `break/continue`, trim markers `{{- -}}`, comments, constants, the builtin functions
(`printf print println len index slice not and or eq ne lt le gt ge html urlquery js`) and time.Time
methods (`.Format "2006-01-02"`, `.Unix`, ...). Values print as Go prints them: bools `true/false`,
times in Go's `String()` form, SyncStatus as its string.

Two execution behaviours, as in Go:
- text/template (`html=False`, strict): an execution error (e.g. `can't evaluate field X in type T`)
  raises `ExecError`, whose `partial` holds what was written before it.
- html/template as Go tunasync uses it for log_dir (`html=True`): values are HTML-escaped
  (`& ' " < > +` and NUL) and an execution error silently truncates the output at that point, because
  Go tunasync ignores the error and keeps the buffer. Pass `strict=True` to get the error instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ExecError, TemplateError
from .execute import Executor
from .funcs import html_escape
from .parse import Node, parse_tree

__all__ = ["ExecError", "Template", "TemplateError", "html_escape", "parse", "render"]


class Template:
    """A parsed template; `execute` may be called many times (and from several threads)."""

    def __init__(self, source: str, name: str, nodes: list[Node]):
        self.source = source
        self.name = name
        self.nodes = nodes

    def execute(self, data: Any, *, html: bool = False, strict: bool | None = None,
                type_name: str | None = None) -> str:
        """Run over `data` (a mapping of Go field names, or any object); see the module doc for errors."""
        strict = (not html) if strict is None else strict
        try:
            return Executor(self.source, self.name, data, html=html, root_type=type_name).run(self.nodes)
        except ExecError as exc:
            if strict:
                raise
            return exc.partial


def parse(template: str, name: str = "") -> Template:
    """Parse a template; raises TemplateError with Go's `template: NAME:LINE: reason` text."""
    return Template(template, name, parse_tree(template, name))


def render(template: str, data: Mapping[str, Any] | Any, *, html: bool = False, strict: bool | None = None,
           name: str = "", type_name: str | None = None) -> str:
    """Parse and execute in one step."""
    return parse(template, name).execute(data, html=html, strict=strict, type_name=type_name)
