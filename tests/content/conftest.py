"""Fixtures for the content-addressing tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.content.content_helpers import write_pattern


@pytest.fixture(scope="session")
def pattern_file(tmp_path_factory):
    """pattern_file(n) -> path of a cached `pattern n` file for this test session (worker)."""
    base = tmp_path_factory.mktemp("patterns")

    def make(n: int) -> Path:
        path = base / f"pattern-{n}"
        if not path.exists():
            write_pattern(path.with_suffix(".part"), n).rename(path)
        return path

    return make
