"""Token auth for the manager API (docs/security.md): off unless `[[auth.tokens]]` are configured.

Requests carry `Authorization: Bearer <token>`. Tokens are compared in constant time, every
configured token every time. 401: no or unknown token; 403: the token's role may not use the route.
The policy (`allowed`) is a pure function of (role, method, route template). A `worker` token is
also bound to worker IDs (`workers = [...]`, default its `name`): on every route naming a worker (the
`:id` segment, or the body's `id` when registering) it may act only for those, else 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .config import TokenConfig

PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/ping"),
        ("GET", "/jobs"),
        ("GET", "/"),
        ("GET", "/metrics"),
        ("GET", "/mirrorz.json"),
        ("GET", "/archive"),  # read-only figures, as public as /jobs
        ("GET", "/archive/history"),  # the same figures over time
        ("GET", "/mirror/{name}"),  # one mirror's page (its history and logs still need a read token)
    }
)

WORKER_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/workers"),
        ("GET", "/workers/{id}/jobs"),
        ("POST", "/workers/{id}/jobs/{job}"),
        ("POST", "/workers/{id}/schedules"),
        ("POST", "/workers/{id}/jobs/{job}/archive"),
    }
)


def is_public(method: str, route: str) -> bool:
    return (method, route) in PUBLIC


def allowed(role: str, method: str, route: str) -> bool:
    """May a token of `role` call `method route` (route = aiohttp template, e.g. /workers/{id}/jobs)?"""
    if is_public(method, route) or role == "admin":
        return True
    if role == "worker":
        return (method, route) in WORKER_ROUTES
    if role == "read":
        return method == "GET"  # every read: workers (tokens redacted), job lists, history, logs
    return False


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    workers: frozenset[str] = frozenset()  # worker role: the worker IDs it may act for ("*": any)

    def may_act_for(self, worker_id: str) -> bool:
        return self.role != "worker" or "*" in self.workers or worker_id in self.workers

    def refusal(self, worker_id: str) -> str | None:
        """403 reason when this identity may not act for `worker_id`, else None."""
        if self.may_act_for(worker_id):
            return None
        allowed_ids = ", ".join(sorted(self.workers)) or "none"
        return f"token {self.name or '(unnamed)'} may act only for workers {allowed_ids}, not {worker_id}"


# Request key: the Identity behind the request's token (set only when auth is on).
IDENTITY: Any = web.RequestKey("tunasync_identity", Identity) if hasattr(web, "RequestKey") else "tunasync.identity"


class TokenTable:
    def __init__(self, tokens: list[TokenConfig]):
        self._entries = [(t.token.encode("utf-8"), Identity(t.name, t.role, t.acts_for())) for t in tokens if t.token]

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def identify(self, header: str | None) -> Identity | None:
        """The identity behind an Authorization header, or None."""
        if not header:
            return None
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = token.strip().encode("utf-8")
        found: Identity | None = None
        for secret, ident in self._entries:
            # No early exit: the time taken must not tell which token (or how much of one) matched.
            if hmac.compare_digest(secret, given) and found is None:
                found = ident
        return found
