"""The tunasync.json status file at `[files] status_file`: the `GET /jobs` bytes, written atomically.

Mirror web pages of existing sites read this file (Go accepts the key and never writes it). We
rewrite it after status changes, debounced so a burst of posts costs one write, and only when the
bytes differ. A write goes to a temporary file in the same directory, is fsync'd, renamed over the
old file and the directory fsync'd, so a reader never sees a half-written file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable

from aiohttp import web

from .state import STATE

log = logging.getLogger("tunasync.manager")


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so readers see either the old or the new content."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class StatusFileWriter:
    """Debounced writer: `changed()` after a status change; `close()` writes what is pending."""

    def __init__(self, path: str, render: Callable[[], Awaitable[bytes]], delay: float = 1.0):
        self.path = path
        self.render = render
        self.delay = delay
        self._last: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._closed = False
        self.writes = 0

    async def start(self) -> None:
        """Write the current state once, then follow changes."""
        try:
            await self.flush()
        except OSError as exc:
            log.error("cannot write status file %s: %s", self.path, exc)
        self._task = asyncio.create_task(self._loop(), name="tunasync-status-file")

    def changed(self) -> None:
        self._dirty.set()

    async def _loop(self) -> None:
        while not self._closed:
            await self._dirty.wait()
            await asyncio.sleep(self.delay)  # let a burst of posts settle into one write
            self._dirty.clear()
            try:
                await self.flush()
            except Exception as exc:  # a full disk must not take the manager down
                log.error("cannot write status file %s: %s", self.path, exc)

    async def flush(self) -> None:
        data = await self.render()
        if data == self._last:
            return
        await asyncio.to_thread(write_atomic, self.path, data)
        self._last = data
        self.writes += 1

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._task is not None and self._dirty.is_set():
            try:
                await self.flush()
            except Exception as exc:
                log.error("cannot write status file %s: %s", self.path, exc)


WRITER_KEY = web.AppKey("tunasync_status_file", StatusFileWriter)


def setup(app: web.Application) -> None:
    """Keep `[files] status_file` in step with `GET /jobs` (nothing when the key is empty)."""
    st = app[STATE]
    path = st.config.files.status_file
    if not path:
        return
    writer = StatusFileWriter(path, st.jobs.body)
    directory = os.path.dirname(os.path.abspath(path))
    st.on_status_change.append(lambda _change: writer.changed())

    async def start(_app: web.Application) -> None:
        if not await asyncio.to_thread(os.path.isdir, directory):
            # Go never wrote this file, so its default directory may not exist: say so, keep running.
            log.warning("not writing the status file %s: directory %s does not exist", path, directory)
            return
        await writer.start()

    async def stop(_app: web.Application) -> None:
        await writer.close()

    app[WRITER_KEY] = writer
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
