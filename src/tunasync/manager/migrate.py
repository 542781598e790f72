"""Import a Go tunasync manager's data into the configured database (`tunasync manager migrate`).

Two sources: the Go manager's bolt file (`--from-bolt`, the Go manager stopped), or a running Go
manager's API (`--from-url`: `GET /workers` and `GET /workers/<id>/jobs`, the export docs/compat.md §3.2
suggests; worker tokens come back redacted and are imported empty, as Go workers register them).

Everything is read and checked before anything is written; the write is one `import_all`
transaction, so a corrupt file or a failed import leaves the target as it was. When the config's
`db_file` is the Go file itself (the drop-in case: `db_type = "bolt"`), the Go file is renamed to
`<db_file>.go-bolt` first and our SQLite database takes its place; a failure renames it back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import TunasyncError
from ..models import MirrorStatus, WorkerStatus
from .bolt import BoltFile
from .config import ManagerConfig
from .db import open_database
from .db.base import StatusItem, split_status_key

WORKERS, STATUSES = b"workers", b"mirror_status"
BACKUP_SUFFIX = ".go-bolt"


class MigrationError(TunasyncError):
    """The Go database cannot be imported; names the file."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class GoData:
    """What a Go manager database holds, decoded; `skipped` says what was left out and why."""

    workers: list[WorkerStatus] = field(default_factory=list)
    statuses: list[StatusItem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def decode_go_buckets(buckets: dict[bytes, dict[bytes, Any]], path: str) -> GoData:
    """Turn the raw `workers` and `mirror_status` buckets into records (pure)."""
    if WORKERS not in buckets and STATUSES not in buckets:
        names = ", ".join(sorted(_text(k) for k in buckets)) or "none"
        raise MigrationError(path, f"not a Go tunasync database: no `workers` or `mirror_status` bucket (buckets: {names})")
    out = GoData()
    for name in sorted(set(buckets) - {WORKERS, STATUSES}):
        out.notes.append(f"bucket {_text(name)!r} is not used by tunasync and was ignored")
    for key, value in sorted(buckets.get(WORKERS, {}).items()):
        if isinstance(value, dict):
            out.skipped.append(f"workers/{_text(key)}: a nested bucket, not a worker record")
            continue
        try:
            w = WorkerStatus.model_validate_json(value)
        except ValueError as exc:
            out.skipped.append(f"workers/{_text(key)}: undecodable JSON ({_first_line(exc)})")
            continue
        if w.id != _text(key):
            out.notes.append(f"workers/{_text(key)}: record id is {w.id!r}; kept under the bucket key as Go does")
            w = w.model_copy(update={"id": _text(key)})
        out.workers.append(w)
    for key, value in sorted(buckets.get(STATUSES, {}).items()):
        k = _text(key)
        if isinstance(value, dict):
            out.skipped.append(f"mirror_status/{k}: a nested bucket, not a status record")
            continue
        if "/" not in k:
            out.skipped.append(f"mirror_status/{k}: key is not <mirror>/<worker>")
            continue
        try:
            s = MirrorStatus.model_validate_json(value)
        except ValueError as exc:
            out.skipped.append(f"mirror_status/{k}: undecodable JSON ({_first_line(exc)})")
            continue
        worker_id, mirror_id = split_status_key(k)
        if not s.name:
            # Go quirk 5: stop/disable of an unknown mirror stores a nameless record; Go lists it too.
            out.notes.append(f"mirror_status/{k}: record without a name (kept as Go shows it; `tunasynctl flush` removes it)")
        out.statuses.append((worker_id, mirror_id, s))
    return out


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_go_bolt(path: str) -> GoData:
    """Read and decode a Go manager's bolt file (blocking: call it in a thread)."""
    return decode_go_buckets(BoltFile.open(path).read_all(), path)


async def read_go_http(base_url: str, request_timeout: float = 30.0) -> GoData:
    """Export workers and statuses from a running Go manager's API."""
    import aiohttp

    base = base_url.rstrip("/")
    out = GoData()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=request_timeout)) as s:
            async def get(path: str) -> Any:
                async with s.get(base + path) as r:
                    if r.status != 200:
                        raise MigrationError(base_url, f"GET {path}: HTTP {r.status}: {(await r.text())[:200]}")
                    return await r.json(content_type=None)

            workers = await get("/workers") or []
            if not isinstance(workers, list):
                raise MigrationError(base_url, "GET /workers did not return a list: is this a tunasync manager?")
            for raw in workers:
                w = WorkerStatus.model_validate(raw)
                if w.token == "REDACTED":
                    w = w.model_copy(update={"token": ""})
                out.workers.append(w)
                jobs = await get(f"/workers/{w.id}/jobs") or []
                if not isinstance(jobs, list):
                    raise MigrationError(base_url, f"GET /workers/{w.id}/jobs did not return a list")
                for rec in jobs:
                    st = MirrorStatus.model_validate(rec)
                    out.statuses.append((w.id, st.name, st))
    except aiohttp.ClientError as exc:
        raise MigrationError(base_url, f"cannot reach the manager: {exc}") from exc
    except ValueError as exc:
        raise MigrationError(base_url, f"unexpected reply: {_first_line(exc)}") from exc
    if out.workers:
        out.notes.append("worker tokens are not exported by GET /workers; they were imported empty")
    return out


@dataclass
class MigrationReport:
    source: str
    target: str
    workers: int
    statuses: int
    skipped: list[str]
    notes: list[str]
    backup: str | None = None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _remove_sqlite(path: str) -> None:
    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def _move_aside(cfg: ManagerConfig, bolt_path: str) -> str | None:
    """If the target path is the Go file itself, rename it to make room; returns the new name."""
    if cfg.files.db_type == "redis" or not _same_file(cfg.files.db_file, bolt_path):
        return None
    backup = cfg.files.db_file + BACKUP_SUFFIX
    if os.path.exists(backup):
        raise MigrationError(bolt_path, f"{backup} already exists; move it away first (an earlier migration?)")
    os.rename(cfg.files.db_file, backup)
    return backup


async def migrate(cfg: ManagerConfig, bolt_path: str, dry_run: bool = False,
                  progress: Callable[[str], None] | None = None, from_url: bool = False) -> MigrationReport:
    """Import `bolt_path` (or, with `from_url`, a running manager's URL) into `cfg`'s database; all or nothing."""
    say = progress or (lambda _msg: None)
    if from_url:
        data = await read_go_http(bolt_path)
    else:
        data = await asyncio.to_thread(read_go_bolt, bolt_path)
    report = MigrationReport(bolt_path, f"{cfg.files.db_type} {cfg.files.db_file}", len(data.workers), len(data.statuses),
                             data.skipped, data.notes)
    say(f"read {len(data.workers)} workers and {len(data.statuses)} mirror statuses from {bolt_path}")
    if dry_run:
        return report
    backup = None if from_url else await asyncio.to_thread(_move_aside, cfg, bolt_path)
    if backup:
        say(f"moved the Go database to {backup}")
    try:
        db = await open_database(cfg.files.db_type, cfg.files.db_file, cfg.source)
        try:
            await db.import_all(data.workers, data.statuses)
        finally:
            await db.close()
    except BaseException:
        if backup is not None:
            _remove_sqlite(cfg.files.db_file)
            os.rename(backup, cfg.files.db_file)
        raise
    report.backup = backup
    return report
