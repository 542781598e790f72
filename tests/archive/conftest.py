"""Archive fixtures: a real devnet subprocess (3 providers, fast epochs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.devnetkit import DevnetProc


@pytest.fixture
def devnet(tmp_path: Path):
    d = DevnetProc(tmp_path / "devnet", ["--providers", "3", "--epoch-seconds", "0.03"])
    d.start()
    yield d
    d.stop()
