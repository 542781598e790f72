"""The manager's outbound HTTP to workers (docs/compat.md §1.8): one session, timeouts set here.

Every command has a 5 s total timeout; TLS trusts only `files.ca_cert` when set, the system roots
otherwise. Requests carry `Authorization: Bearer <token>` when the worker registered with a token.
Requests go only to the worker's checked address (`workerurl.WorkerTarget`), never follow redirects,
and, with `[auth] worker_networks`, reach only addresses inside those networks.
"""

from __future__ import annotations

import ssl

import aiohttp

from ..errors import ConfigError
from ..models import WorkerCmd, WorkerStatus, gojson
from . import workerurl
from .config import ManagerConfig

COMMAND_TIMEOUT = aiohttp.ClientTimeout(total=5)
JSON_CT = "application/json; charset=utf-8"


def ssl_context(config: ManagerConfig) -> ssl.SSLContext:
    ca = config.files.ca_cert
    try:
        return ssl.create_default_context(cafile=ca or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(config.source, "files.ca_cert", f"cannot load CA {ca}: {exc}") from exc


def make_session(config: ManagerConfig) -> aiohttp.ClientSession:
    networks = workerurl.parse_networks(config.auth.worker_networks)
    resolver = workerurl.GuardedResolver(networks) if networks else None
    connector = aiohttp.TCPConnector(ssl=ssl_context(config), limit=0, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, timeout=COMMAND_TIMEOUT)


def auth_headers(worker: WorkerStatus) -> dict[str, str]:
    return {"Authorization": f"Bearer {worker.token}"} if worker.token else {}


def target(config: ManagerConfig, worker: WorkerStatus) -> workerurl.WorkerTarget:
    """Where this worker is reached; BadWorkerURL for a record the checks would refuse today (an old
    database, or worker_networks narrowed since it registered)."""
    t = workerurl.parse(worker.url)
    if not t.host:
        raise workerurl.BadWorkerURL(workerurl.NO_HOST)
    workerurl.check_literal(t, workerurl.parse_networks(config.auth.worker_networks))
    return t


async def post_command(session: aiohttp.ClientSession, t: workerurl.WorkerTarget, worker: WorkerStatus,
                       cmd: WorkerCmd) -> int:
    """POST the command to the worker's root; returns its HTTP status (Go ignores it, quirk 4)."""
    body = (gojson.dumps(cmd.to_go()) + "\n").encode("utf-8")
    headers = {"Content-Type": JSON_CT, **auth_headers(worker)}
    async with session.post(t.root(), data=body, headers=headers, timeout=COMMAND_TIMEOUT,
                            allow_redirects=False) as resp:
        await resp.content.read(64 * 1024)  # the worker's short answer; nobody reads more of it
        return resp.status
