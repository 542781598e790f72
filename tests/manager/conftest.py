"""Manager fixtures: a real redis-server, both database backends, a manager on a loopback port."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunasync.manager.config import ManagerConfig, TokenConfig
from tunasync.manager.db import Database, open_database

from .mgrkit import Manager, free_port, start_manager, stop_manager


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A private redis-server on a free port (no persistence); yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed: the redis backend cannot be tested")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    client.close()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The shared redis-server, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """An open database of each backend (the same tests run over both)."""
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        database = await open_database("redis", url)
    else:
        database = await open_database("sqlite", str(tmp_path / "tunasync.db"))
    yield database
    await database.close()


@pytest.fixture
async def manager_factory(db: Database) -> AsyncIterator[Callable[..., Any]]:
    """Start managers over the test's database with a given config; all stopped at the end."""
    started: list[Manager] = []

    async def make(config: ManagerConfig | None = None, tokens: list[TokenConfig] | None = None) -> Manager:
        cfg = config or ManagerConfig()
        if tokens:
            cfg.auth.tokens = tokens
        m = await start_manager(cfg, db)
        started.append(m)
        return m

    yield make
    for m in started:
        await stop_manager(m)


@pytest.fixture
async def manager(manager_factory: Callable[..., Any]) -> Manager:
    """A manager without auth over each backend."""
    return await manager_factory()


