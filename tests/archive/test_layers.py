"""The import arrows of the archive boundary (docs/architecture.md, "Rules the code keeps": data flows one way, no
import cycles, lazy imports included): the worker imports the archive tier, never the other way round.

Every module under the lower packages is parsed (not imported: an import inside a function, or under
`if TYPE_CHECKING:`, counts as much as one at the top), and each import is resolved to the absolute
module it names, relative imports included. `importlib.import_module("tunasync.worker...")` written as a
string is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tunasync

SRC = Path(tunasync.__file__).resolve().parent

# package -> packages it must never import
FORBIDDEN = {
    "archive": ("tunasync.worker", "tunasync.serve", "tunasync.cli", "tunasync.manager"),
    "serve": ("tunasync.worker", "tunasync.cli", "tunasync.manager"),
    "filecoin": ("tunasync.worker", "tunasync.archive", "tunasync.serve", "tunasync.cli", "tunasync.manager"),
    "content": ("tunasync.worker", "tunasync.archive", "tunasync.filecoin", "tunasync.serve", "tunasync.cli",
                "tunasync.manager"),
}
# The shared helpers below both sides (size parsing, the strict config base) import neither.
LEAVES = ("sizes.py", "configmodel.py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, me: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file of module `me`, wherever it stands."""
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names]  # `from .. import worker`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("tunasync."):
            out.append((node.lineno, node.value))  # importlib.import_module("tunasync.worker.x")
    return out


def violations(files: list[Path], forbidden: tuple[str, ...], names: dict[Path, str] | None = None) -> list[str]:
    bad = []
    for f in files:
        me = (names or {}).get(f) or module_name(f)
        for line, target in imports_of(f, me):
            if any(target == p or target.startswith(p + ".") for p in forbidden):
                bad.append(f"{me}:{line} imports {target}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules under tunasync.{package}"
    assert violations(files, FORBIDDEN[package]) == []


def test_shared_helpers_sit_below_worker_and_archive() -> None:
    files = [SRC / name for name in LEAVES]
    assert violations(files, ("tunasync.worker", "tunasync.archive", "tunasync.serve", "tunasync.filecoin")) == []


def test_the_check_sees_lazy_relative_and_string_imports(tmp_path: Path) -> None:
    """The parser catches what the old code did: a relative import of the worker inside a function."""
    probe = tmp_path / "probe.py"  # parsed as if it were tunasync/archive/probe.py
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..worker.config_models import WorkerConfig\n"
        "def load(p):\n    from ..worker.config import load_worker_config\n    return load_worker_config(p)\n"
        "def other():\n    from .. import worker\n"
        "def by_name():\n    import importlib\n    return importlib.import_module('tunasync.worker.sizes')\n")
    found = violations([probe], ("tunasync.worker",), {probe: "tunasync.archive.probe"})
    assert [int(v.split(":")[1].split()[0]) for v in found] == [3, 3, 5, 5, 8, 11], found


def test_archive_config_is_the_workers() -> None:
    """One model: the worker's `[archive]` section is the archive tier's ArchiveConfig."""
    from tunasync.archive.config import ArchiveConfig
    from tunasync.worker.config_models import SECTIONS, WorkerConfig

    assert SECTIONS["archive"] is ArchiveConfig
    assert WorkerConfig.model_fields["archive"].annotation is ArchiveConfig
