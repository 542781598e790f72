"""The test tree's shape: every folder holding tests is a package, so two test files may share a
basename in different folders (tests/manager/test_config.py and tests/worker/test_config.py), and
helpers are imported by their full name (`from tests.archive.archkit import ...`)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_folder_with_python_files_is_a_package() -> None:
    folders = {p.parent for p in TESTS.rglob("*.py") if p.parent != TESTS / "data"}
    missing = sorted(str(f.relative_to(TESTS.parent)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"test folders without __init__.py: {missing}"
