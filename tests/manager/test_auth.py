"""Token auth over HTTP: off without tokens, 401/403 with reasons, the role table of docs/security.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunasync.manager.auth import TokenTable, allowed
from tunasync.manager.config import TokenConfig

from .mgrkit import Manager

TOKENS = [TokenConfig(name="w", role="worker", token="wt", workers=["w1", "w2"]), TokenConfig(name="a", role="admin", token="at"),
          TokenConfig(name="r", role="read", token="rt")]

# (method, path, body) → roles allowed; "public" = no token needed.
MATRIX = [
    ("GET", "/ping", None, "public"),
    ("GET", "/jobs", None, "public"),
    ("GET", "/archive", None, "public"),
    ("POST", "/workers", {"id": "w2", "url": "http://127.0.0.1:9/"}, {"worker", "admin"}),
    ("GET", "/workers", None, {"admin", "read"}),
    ("GET", "/workers/w1/jobs", None, {"worker", "admin", "read"}),
    ("POST", "/workers/w1/jobs/debian", {"name": "debian", "status": "success"}, {"worker", "admin"}),
    ("POST", "/workers/w1/schedules", {"schedules": []}, {"worker", "admin"}),
    ("POST", "/workers/w1/jobs/debian/archive", {"bytes": 1}, {"worker", "admin"}),
    ("POST", "/workers/w1/jobs/debian/size", {"name": "debian", "size": "1G"}, {"admin"}),
    ("GET", "/workers/w1/jobs/debian/history", None, {"admin", "read"}),
    ("POST", "/cmd", {"cmd": "ping", "mirror_id": "debian", "worker_id": "nobody"}, {"admin"}),
    ("DELETE", "/jobs/disabled", None, {"admin"}),
    ("DELETE", "/workers/nobody", None, {"admin"}),
]


@pytest.fixture
async def authed(manager_factory) -> Manager:
    m = await manager_factory(tokens=list(TOKENS))
    code, _, _ = await m.call("POST", "/workers", {"id": "w1", "url": "http://127.0.0.1:9/"}, token="wt")
    assert code == 200
    await m.call("POST", "/workers/w1/jobs/debian", {"name": "debian", "status": "success"}, token="wt")
    return m


@pytest.mark.parametrize("method,path,body,roles", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
async def test_matrix(authed: Manager, method: str, path: str, body, roles) -> None:
    code, reply, _ = await authed.call(method, path, body)
    if roles == "public":
        assert code == 200
        return
    assert (code, reply) == (401, {"error": "missing bearer token"})
    code, reply, _ = await authed.call(method, path, body, token="guess")
    assert (code, reply) == (401, {"error": "unknown token"})
    for role, token in (("worker", "wt"), ("admin", "at"), ("read", "rt")):
        code, reply, _ = await authed.call(method, path, body, token=token)
        if role in roles:
            assert code not in (401, 403), (role, code, reply)
        else:
            assert code == 403 and reply["error"].startswith(f"role {role} may not {method}"), (role, code, reply)


async def test_auth_off_without_tokens(manager: Manager) -> None:
    code, _, _ = await manager.call("POST", "/workers", {"id": "w1", "url": "http://x/"})
    assert code == 200
    assert (await manager.call("GET", "/workers"))[0] == 200


async def test_unknown_paths_are_404_before_auth(authed: Manager) -> None:
    code, body, _ = await authed.call("GET", "/nope")
    assert (code, body) == (404, "404 page not found")


def test_policy_and_token_table(tmp_path: Path) -> None:
    assert allowed("worker", "POST", "/workers/{id}/jobs/{job}")
    assert not allowed("worker", "POST", "/cmd") and allowed("admin", "POST", "/cmd")
    assert allowed("read", "GET", "/workers/{id}/jobs/{job}/log") and not allowed("read", "DELETE", "/workers/{id}")
    assert allowed("worker", "GET", "/metrics") and allowed("read", "GET", "/mirrorz.json")
    table = TokenTable(TOKENS)
    assert table.identify("Bearer at").role == "admin"
    assert table.identify("bearer  rt ").role == "read"
    assert table.identify("Basic at") is None and table.identify("Bearer ") is None and table.identify(None) is None
    assert not TokenTable([]).enabled
