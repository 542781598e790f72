"""Fixtures every test area shares: free ports, the test data directory, the npm oracle."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.ports import free_port

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
ORACLE_DIR = Path(os.environ.get("TUNASYNC_ORACLE_DIR", REPO / ".cache" / "oracle"))




@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: fixtures and vectors committed with the repository (tests/data/make_vectors.py)."""
    return DATA


@pytest.fixture(scope="session")
def oracle_dir() -> Path:
    """Directory holding node_modules of the npm reference tools (installed by ./dev setup)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the npm reference tools cannot run")
    if not (ORACLE_DIR / "node_modules" / "ipfs-car").is_dir():
        pytest.skip(f"npm reference tools not installed in {ORACLE_DIR} (run ./dev setup)")
    return ORACLE_DIR
