"""The manager's outbound HTTP to workers (spec §1.8): one session, timeouts set here.

Every command has a 5 s total timeout; TLS trusts only `files.ca_cert` when set, the system roots
otherwise. Requests carry `Authorization: Bearer <token>` when the worker registered with a token.
"""

from __future__ import annotations

import ssl

import aiohttp

from ..errors import ConfigError
from ..models import WorkerCmd, WorkerStatus, gojson
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
    connector = aiohttp.TCPConnector(ssl=ssl_context(config), limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=COMMAND_TIMEOUT)


def auth_headers(worker: WorkerStatus) -> dict[str, str]:
    return {"Authorization": f"Bearer {worker.token}"} if worker.token else {}


def worker_url(worker: WorkerStatus, path: str) -> str:
    """`<worker url>/<path>` with exactly one slash between."""
    return worker.url.rstrip("/") + "/" + path.lstrip("/")


async def post_command(session: aiohttp.ClientSession, worker: WorkerStatus, cmd: WorkerCmd) -> int:
    """POST the command to the worker's URL; returns its HTTP status (Go ignores it, quirk 4)."""
    body = (gojson.dumps(cmd.to_go()) + "\n").encode("utf-8")
    headers = {"Content-Type": JSON_CT, **auth_headers(worker)}
    async with session.post(worker.url, data=body, headers=headers, timeout=COMMAND_TIMEOUT) as resp:
        await resp.read()
        return resp.status
