"""Devnet fixtures for the filecoin tests; the helpers live in tests/devnetkit.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.devnetkit import REPO, DevnetProc, StoredFile, make_file, pattern  # noqa: F401 (re-exported)
from tunasync.filecoin.http import HttpSettings


@pytest.fixture
def devnet_factory(tmp_path: Path):
    started: list[DevnetProc] = []

    def make(*args: str, name: str = "devnet") -> DevnetProc:
        d = DevnetProc(tmp_path / name, ["--providers", "3", "--epoch-seconds", "0.05", *args])
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def devnet(devnet_factory) -> DevnetProc:
    return devnet_factory()


@pytest.fixture
def fast_http() -> HttpSettings:
    """Short timeouts so a dead or hanging peer costs ~1 s, with one retry."""
    return HttpSettings(connect_timeout=2.0, read_timeout=1.5, retries=1, backoff=0.05)
