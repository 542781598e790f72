"""The worker's only way to the manager(s): registration, status and schedules posts (docs/compat.md §4.7, §4.8).

Every request has a 5 s total timeout; bodies are Go JSON plus a newline with
`Content-Type: application/json; charset=utf-8`; `Authorization: Bearer <token>` when a token is set;
the CA file, when given, is the only trust root. Errors are logged, never fatal.

Quirk 12 (fixed): Go registers once (10 tries) and never again. Here each manager has a registration
loop that retries with back-off (1 s doubling to 60 s) until the manager answers, and runs again when
the manager forgets us (a post answered 400 `invalid workerID ...`) or comes back after being
unreachable. Status posts that could not be delivered meanwhile are kept (the latest per mirror) and
sent once the worker is registered again, followed by the schedules, so a manager outage loses no
final status.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import aiohttp

from ..errors import WorkerError
from ..models import MirrorSchedule, MirrorSchedules, MirrorStatus, WorkerStatus, gojson
from ..models.status import COMMAND_AUTH_BEARER, COMMAND_AUTH_HEADER

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
TIMEOUT = 5.0
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


class _Forgotten(WorkerError):
    """The manager answered 400 `invalid workerID`: it does not know this worker (any more)."""


class _Manager:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.registered = asyncio.Event()
        self.pending: dict[str, MirrorStatus] = {}  # latest undelivered status per mirror
        self.task: asyncio.Task[None] | None = None
        self.schedules_dirty = False
        # None until registered; then whether the manager said it forwards our token with its commands
        self.forwards_token: bool | None = None


class ManagerClient:
    def __init__(self, worker_id: str, worker_url: str, api_bases: list[str], *, token: str = "",
                 ca_cert: str = "", timeout: float = TIMEOUT, backoff_start: float = BACKOFF_START,
                 backoff_max: float = BACKOFF_MAX):
        self.worker_id = worker_id
        self.worker_url = worker_url
        self.token = token
        self.ca_cert = ca_cert
        self.timeout = timeout
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self.managers = [_Manager(b) for b in api_bases if b]
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Content-Type": JSON_TYPE}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._schedules: list[tuple[str, Any]] | None = None  # None until the worker posted any
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------------
    async def open(self) -> None:
        ctx: ssl.SSLContext | bool = True
        if self.ca_cert:
            ctx = ssl.create_default_context(cafile=self.ca_cert)  # errors are fatal at start-up, as Go
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(ssl=ctx, limit=64),
        )

    async def close(self) -> None:
        self._closed = True
        for m in self.managers:
            if m.task is not None:
                m.task.cancel()
        await asyncio.gather(*(m.task for m in self.managers if m.task), return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def start_registration(self) -> None:
        for m in self.managers:
            self._ensure_registering(m)

    async def wait_registered(self, within: float) -> bool:
        """Wait up to `within` seconds for the first manager to accept us (Go tries for ~10 s)."""
        if not self.managers:
            return False
        try:
            await asyncio.wait_for(self.managers[0].registered.wait(), within)
            return True
        except TimeoutError:
            return False

    # -- requests -----------------------------------------------------------------------------------
    def control_needs_token(self) -> bool:
        """Whether the control port asks for `[manager] token`: yes with a token, unless a manager this
        worker registered with did not announce that it forwards the token (a Go manager sends none)."""
        return bool(self.token) and all(m.forwards_token is not False for m in self.managers)

    async def _post(self, m: _Manager, path: str, payload: Any) -> tuple[int, str]:
        assert self._session is not None
        data = (gojson.dumps(payload) + "\n").encode()
        async with self._session.post(m.base + path, data=data, headers=self._headers) as resp:
            text = await resp.text()
            if path == "/workers" and 200 <= resp.status < 300:
                m.forwards_token = resp.headers.get(COMMAND_AUTH_HEADER, "").lower() == COMMAND_AUTH_BEARER
            return resp.status, text

    def _ensure_registering(self, m: _Manager) -> None:
        m.registered.clear()
        if self._closed or (m.task is not None and not m.task.done()):
            return
        m.task = asyncio.create_task(self._register_loop(m), name=f"register:{m.base}")

    async def _register_loop(self, m: _Manager) -> None:
        delay = self.backoff_start
        body = WorkerStatus(id=self.worker_id, url=self.worker_url, token=self.token).to_go()
        attempt = 0
        while True:
            attempt += 1
            try:
                status, text = await self._post(m, "/workers", body)
                if 200 <= status < 300:
                    log.info("registered as worker %s at %s", self.worker_id, m.base)
                    if self.token and not m.forwards_token:
                        log.warning("manager %s does not forward the worker token with its commands (a Go "
                                    "manager): the control port takes commands without [manager] token, "
                                    "as Go's worker does", m.base)
                    m.registered.set()
                    await self._flush(m)
                    return
                reason = f"HTTP {status}: {text.strip()}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
            level = logging.WARNING if attempt == 1 or delay >= self.backoff_max else logging.INFO
            log.log(level, "cannot register with manager %s (attempt %d, next in %gs): %s",
                    m.base, attempt, delay, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _flush(self, m: _Manager) -> None:
        """After (re-)registration: undelivered statuses, then the current schedules."""
        while m.pending and m.registered.is_set():
            name, st = next(iter(m.pending.items()))
            if not await self._status_to(m, st):
                return
        if m.registered.is_set() and self._schedules is not None:
            await self._schedules_to(m, self._schedules)

    def _failed(self, m: _Manager, what: str, exc: BaseException | str) -> None:
        log.warning("%s to manager %s failed: %s", what, m.base, exc)
        self._ensure_registering(m)

    async def _status_to(self, m: _Manager, st: MirrorStatus) -> bool:
        if not m.registered.is_set():
            m.pending[st.name] = st
            return False
        try:
            status, text = await self._post(m, f"/workers/{self.worker_id}/jobs/{st.name}", st.to_go())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            m.pending[st.name] = st
            self._failed(m, f"status of {st.name}", str(exc) or type(exc).__name__)
            return False
        if status == 400 and "invalid workerID" in text:
            m.pending[st.name] = st
            self._failed(m, f"status of {st.name}", "the manager does not know this worker; registering again")
            return False
        m.pending.pop(st.name, None)
        if status >= 300:
            log.error("status of %s to manager %s: HTTP %d: %s", st.name, m.base, status, text.strip())
        return True

    async def post_status(self, st: MirrorStatus) -> None:
        """POST the status of one mirror to every manager (concurrently)."""
        if len(self.managers) == 1:
            await self._status_to(self.managers[0], st)
        else:
            await asyncio.gather(*(self._status_to(m, st) for m in self.managers))

    async def _schedules_to(self, m: _Manager, entries: list[tuple[str, Any]]) -> None:
        if not m.registered.is_set():
            return  # sent after registration by _flush
        body = MirrorSchedules(
            schedules=[MirrorSchedule(name=n, next_schedule=t) for n, t in entries] or None
        ).to_go()
        try:
            status, text = await self._post(m, f"/workers/{self.worker_id}/schedules", body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._failed(m, "schedules", str(exc) or type(exc).__name__)
            return
        if status == 400 and "invalid workerID" in text:
            self._failed(m, "schedules", "the manager does not know this worker; registering again")
        elif status >= 300:
            log.error("schedules to manager %s: HTTP %d: %s", m.base, status, text.strip())

    async def post_schedules(self, entries: list[tuple[str, Any]]) -> None:
        """POST every queued job with its next time (`{"schedules": null}` when empty) to every manager."""
        self._schedules = entries
        await asyncio.gather(*(self._schedules_to(m, entries) for m in self.managers))

    async def post_archive(self, mirror: str, figures: dict[str, Any]) -> None:
        """POST a mirror's archive figures (our extra route) to every registered manager; best effort."""
        for m in self.managers:
            if not m.registered.is_set():
                continue
            try:
                status, text = await self._post(m, f"/workers/{self.worker_id}/jobs/{mirror}/archive", figures)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("archive figures of %s to manager %s failed: %s", mirror, m.base, exc)
                continue
            if status >= 300:
                log.warning("archive figures of %s to manager %s: HTTP %d: %s", mirror, m.base, status,
                            text.strip())

    async def fetch_jobs(self) -> list[MirrorStatus]:
        """The first manager's records for this worker; [] on any failure (as Go)."""
        if not self.managers or self._session is None:
            return []
        url = f"{self.managers[0].base}/workers/{self.worker_id}/jobs"
        try:
            async with self._session.get(url, headers=self._headers) as resp:
                if resp.status != 200:
                    log.error("GET %s: HTTP %d", url, resp.status)
                    return []
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.error("GET %s failed: %s", url, exc)
            return []
        out = []
        for item in data or []:
            try:
                out.append(MirrorStatus.model_validate(item))
            except ValueError as exc:
                log.warning("skipping a record from %s: %s", url, exc)
        return out
