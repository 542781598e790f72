"""Serve fixtures: one real devnet subprocess for the whole serve suite (3 providers, fast epochs);
faults are cleared after every test."""

from __future__ import annotations

import pytest

from tests.devnetkit import DevnetProc


@pytest.fixture(scope="session")
def devnet_proc(tmp_path_factory):
    d = DevnetProc(tmp_path_factory.mktemp("serve-devnet") / "devnet", ["--providers", "3", "--epoch-seconds", "0.05"])
    d.start()
    yield d
    d.stop()


@pytest.fixture
def devnet(devnet_proc):
    yield devnet_proc
    devnet_proc.post("/admin/faults", {"clear": True})
