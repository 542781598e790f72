"""The configuration reference, generated from the config models (their attribute docstrings).

    python -m tunasync.configref              print it (Markdown)
    python -m tunasync.configref --write F    replace the part of F between the markers below
    python -m tunasync.configref --check F    exit 1 when F's copy is out of date (a test runs this)

The README carries the output between `<!-- config-reference:begin -->` and `<!-- config-reference:end -->`.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

BEGIN = "<!-- config-reference:begin -->"
END = "<!-- config-reference:end -->"


def _type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in typing.get_args(annotation))
    return text.replace("NoneType", "None").replace("|", "\\|")


def _default(name: str, field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel) or value in ({}, []) and not isinstance(value, bool):
        return "" if isinstance(value, BaseModel) else f"`{value!r}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if name in ("bundle_size",) and isinstance(value, int):
        return f"`{value >> 30}GiB`" if value % (1 << 30) == 0 else f"`{value}`"
    return f"`{value!r}`".replace("'", '"') if value is not None else "unset"


_SIZES = ("bundle_size", "memory_limit", "cache_budget")


def _num(name: str, value: Any) -> str:
    if name in _SIZES and isinstance(value, int) and value >= 1 << 30:
        for unit, shift in (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30)):
            if value % (1 << shift) == 0:
                return f"{value >> shift}{unit}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(name: str, field: Any) -> str:
    """` (lo..hi)` from the field's bounds (ge/gt/le/lt), "" when it has none."""
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):  # Annotated[int, Field(...)] | None
        if typing.get_origin(arg) is typing.Annotated:
            for m in typing.get_args(arg)[1:]:
                metadata += getattr(m, "metadata", [m])
    lo = hi = ""
    for m in metadata:
        for attr, side in (("ge", "lo"), ("gt", "lo>"), ("le", "hi"), ("lt", "hi<")):
            value = getattr(m, attr, None)
            if value is None:
                continue
            text = _num(name, value)
            if side.startswith("lo"):
                lo = f">{text}" if side == "lo>" else text
            else:
                hi = f"<{text}" if side == "hi<" else text
    if not lo and not hi:
        return ""
    if lo.startswith(">") and not hi:
        return f" ({lo})"
    return f" ({lo.lstrip('>') if lo else ''}..{hi})" if not lo.startswith(">") else f" ({lo}, ≤{hi})"


def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """Each field's attribute docstring (the string right below its annotation), read from the source of
    the model and its bases. Read here rather than by pydantic's `use_attribute_docstrings`, which parses
    every model's source each time a process imports it (a worker, `tunasync archive status`)."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, body[1:], strict=False):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def section_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    docs = attribute_docs(model)
    for name, field in model.model_fields.items():
        if name in skip or field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue
        desc = (field.description or docs.get(name, "")).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{field.alias or name}` | {_type(annotation)}{_range(name, field)} | {_default(name, field)} "
                    f"| {desc} |")
    return rows


def render() -> str:
    from .archive.config import ArchiveConfig
    from .manager.config import AuthConfig, FilesConfig, HistoryConfig, ServerConfig, TokenConfig
    from .manager.config import ManagerConfig as MgrConfig
    from .worker.config_models import (
        BtrfsSnapshotConfig,
        CgroupConfig,
        DockerConfig,
        GlobalConfig,
        IncludeConfig,
        ManagerConfig,
        MirrorConfig,
        ZfsConfig,
    )
    from .worker.config_models import (
        ServerConfig as WorkerServer,
    )

    out = ["### Worker config (`tunasync worker -c worker.conf`)", ""]
    worker_sections: list[tuple[str, type[BaseModel]]] = [("[global]", GlobalConfig), ("[manager]", ManagerConfig), ("[server]", WorkerServer),
                         ("[cgroup]", CgroupConfig), ("[docker]", DockerConfig), ("[zfs]", ZfsConfig),
                         ("[btrfs_snapshot]", BtrfsSnapshotConfig), ("[include]", IncludeConfig),
                         ("[archive] (beyond Go: the Filecoin archive tier)", ArchiveConfig),
                         ("[[mirrors]] (nested `[[mirrors.mirrors]]` inherit their parent's keys)", MirrorConfig)]
    for title, model in worker_sections:
        out += [f"#### `{title.split(' ')[0]}`" + (title[len(title.split(' ')[0]):]), ""]
        out += section_table(model) + [""]
    out += ["### Manager config (`tunasync manager -c manager.conf`)", ""]
    out += ["#### top level", ""] + section_table(MgrConfig, skip=("mirrorz",)) + [""]
    manager_sections: list[tuple[str, type[BaseModel]]] = [
        ("[server]", ServerConfig), ("[files]", FilesConfig), ("[history]", HistoryConfig),
        ("[auth]", AuthConfig), ("[[auth.tokens]]", TokenConfig)]
    for title, model in manager_sections:
        out += [f"#### `{title}`", ""] + section_table(model, skip=("tokens",)) + [""]
    out += ["`[mirrorz]` is a free table of site metadata for `/mirrorz.json`: see docs/operators.md.", ""]
    return "\n".join(out)


def splice(text: str, block: str) -> str:
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:a] + "\n" + block + "\n" + text[b:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tunasync.configref")
    ap.add_argument("--write", type=Path)
    ap.add_argument("--check", type=Path)
    args = ap.parse_args(argv)
    block = render()
    if args.write:
        args.write.write_text(splice(args.write.read_text(), block))
    elif args.check:
        text = args.check.read_text()
        if splice(text, block) != text:
            print(f"{args.check}: the config reference is out of date; run python -m tunasync.configref "
                  f"--write {args.check}", file=sys.stderr)
            return 1
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
