"""Test helpers for providers and hooks: build a provider from keyword config, run one attempt
through its hooks the way the job does (pre-job, pre-exec forwards; post-* backwards)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tunasync.worker.config_models import GlobalConfig, MirrorConfig, WorkerConfig
from tunasync.worker.providers.base import Provider, ProviderError
from tunasync.worker.providers.build import build_provider


def make_provider(tmp: Path, global_: dict | None = None, sections: dict | None = None, **mirror) -> Provider:
    g = {"name": "w", "log_dir": str(tmp / "log" / "{{.Name}}"), "mirror_dir": str(tmp / "mirrors"),
         "concurrent": 2, **(global_ or {})}
    cfg = WorkerConfig.model_validate({"global": GlobalConfig(**g), **(sections or {}), "path": str(tmp / "w.conf")})
    mirror.setdefault("name", "m")
    m = MirrorConfig(**mirror)
    cfg.mirrors = [m]
    return build_provider(m, cfg)


async def attempt(p: Provider, limit: float = 60, started=None) -> str | None:
    """One run with one attempt; returns the error text (provider or `<point>: hook error`) or None."""
    for point in ("pre_job", "pre_exec"):
        for h in p.hooks:
            await getattr(h, point)()
    err = None
    try:
        await asyncio.wait_for(p.run(started or (lambda: None)), limit)
    except ProviderError as exc:
        err = str(exc)
    for h in reversed(p.hooks):
        await h.post_exec()
    for h in reversed(p.hooks):
        await (h.post_success() if err is None else h.post_fail())
    return err


def log_text(p: Provider) -> str:
    """The log of the last attempt, through the `latest` symlink the log limiter maintains."""
    return (Path(p.log_dir) / "latest").read_text()


async def poll(predicate, limit: float = 10.0, step: float = 0.02):
    """Await until `predicate()` is truthy (returns its value); AssertionError after `limit` seconds."""
    for _ in range(int(limit / step) + 1):
        value = predicate()
        if value:
            return value
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {limit}s: {predicate}")


def file_text(path) -> str:
    """The stripped text of `path`, "" while it does not exist."""
    try:
        return Path(path).read_text().strip()
    except FileNotFoundError:
        return ""
