"""tunasynctl fixtures: a real manager on loopback (sqlite), a stand-in worker, a clean HOME."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tunasync.manager.config import ManagerConfig, TokenConfig
from tunasync.manager.db import open_database

from .ctlkit import Stack, StandInWorker, ctl_env, free_port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
async def stack_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start managers (each over its own sqlite file) with optional auth tokens; all stopped at the end."""
    started: list[Stack] = []

    async def make(tokens: list[TokenConfig] | None = None, **server: Any) -> Stack:
        db = await open_database("sqlite", str(tmp_path / f"manager{len(started)}.db"))
        cfg = ManagerConfig()
        cfg.auth.tokens = tokens or []
        for k, v in server.items():
            setattr(cfg.server, k, v)
        s = Stack(cfg, db)
        await s.start(free_port())
        started.append(s)
        return s

    yield make
    for s in started:
        await s.stop()
        await s.db.close()


@pytest.fixture
async def stack(stack_factory: Callable[..., Any]) -> Stack:
    return await stack_factory()


@pytest.fixture
async def worker() -> AsyncIterator[StandInWorker]:
    w = StandInWorker()
    await w.start(free_port())
    yield w
    await w.stop()


@pytest.fixture
def env(home: Path, stack: Stack) -> dict[str, str]:
    """Environment for tunasynctl pointed at the stack's manager through a ctl.conf in $HOME."""
    conf = home / ".config" / "tunasync"
    conf.mkdir(parents=True)
    (conf / "ctl.conf").write_text(f'manager_addr = "127.0.0.1"\nmanager_port = {stack.config.server.port}\n')
    return ctl_env(home)
