"""A real manager (sqlite, every operator route installed) on a loopback port, and Go-shaped posts."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from tunasync.manager.config import load_config
from tunasync.manager.db import Database, open_database
from tunasync.manager.server import create_app
from tunasync.manager.web import install


@dataclass
class Manager:
    url: str
    port: int
    app: web.Application
    runner: web.AppRunner
    db: Database
    conf: str

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_manager(tmp_path: Path, port: int, extra: str = "", db_file: str | None = None) -> Manager:
    conf = tmp_path / "manager.conf"
    db_file = db_file or str(tmp_path / "manager.sqlite")
    text = (f'[server]\naddr = "127.0.0.1"\nport = {port}\n'
            f'[files]\ndb_type = "sqlite"\ndb_file = "{db_file}"\nstatus_file = "{tmp_path / "tunasync.json"}"\n'
            + extra)
    conf.write_text(text)
    cfg = load_config(str(conf))
    db = await open_database(cfg.files.db_type, cfg.files.db_file, str(conf))
    app = create_app(cfg, db, [install])
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Manager(f"http://127.0.0.1:{port}", port, app, runner, db, str(conf))


@contextlib.asynccontextmanager
async def running_manager(tmp_path: Path, port: int, extra: str = ""):
    m = await start_manager(tmp_path, port, extra)
    try:
        yield m
    finally:
        await m.stop()
        await m.db.close()


async def post_raw(session: aiohttp.ClientSession, url: str, payload: dict | list) -> tuple[int, object]:
    """POST as Go's client does: JSON plus a newline, Go's content type."""
    body = json.dumps(payload, separators=(",", ":")) + "\n"
    async with session.post(url, data=body.encode(), headers={"Content-Type": "application/json; charset=utf-8"}) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


ZERO = "0001-01-01T00:00:00Z"


def go_status_msg(name: str, worker: str, status: str, size: str = "unknown", upstream: str = "",
                  error: str = "", is_master: bool = True) -> dict:
    """A status message exactly as Go's worker sends it (docs/compat.md §4.8): all four times zero."""
    return {"name": name, "worker": worker, "is_master": is_master, "status": status,
            "last_update": ZERO, "last_started": ZERO, "last_ended": ZERO, "next_schedule": ZERO,
            "upstream": upstream or f"rsync://upstream.example/{name}/", "size": size, "error_msg": error}


async def register(session: aiohttp.ClientSession, base: str, worker: str, url: str = "") -> None:
    status, _ = await post_raw(session, f"{base}/workers", {
        "id": worker, "url": url or "http://127.0.0.1:1/", "token": "", "last_online": ZERO, "last_register": ZERO})
    assert status == 200


async def report(session: aiohttp.ClientSession, base: str, worker: str, name: str, *statuses: str, **kw) -> None:
    """Walk a mirror through `statuses` as a Go worker would post them."""
    for st in statuses:
        code, _ = await post_raw(session, f"{base}/workers/{worker}/jobs/{name}", go_status_msg(name, worker, st, **kw))
        assert code == 200, (code, st)
