"""Go/gin-shaped replies: compact Go JSON with `application/json; charset=utf-8`, `{"error": ...}`."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..models import MirrorStatus, gojson
from .codec import decode_status

M = TypeVar("M", bound=BaseModel)


class Reply(Exception):
    """Raised by a handler or helper to answer at once with `response`."""

    def __init__(self, response: web.StreamResponse):
        super().__init__(response.status)
        self.response = response


def raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def json_reply(obj: Any, status: int = 200) -> web.Response:
    return raw_json(gojson.dumps(obj).encode("utf-8"), status)


def error_reply(status: int, reason: str) -> web.Response:
    return json_reply({"error": reason}, status)


def message_reply(message: str) -> web.Response:
    return json_reply({"message": message})


def fail(status: int, reason: str) -> Reply:
    return Reply(error_reply(status, reason))


async def read_model(request: web.Request, model: type[M]) -> M:
    """Decode the body as `model`; malformed JSON or wrong types → 400 with the reason, nothing done.

    Go (quirk 35) answers 400 but then acts on zero values; we stop.
    """
    raw = await request.read()
    if not raw.strip():
        raise fail(400, "invalid JSON: empty body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "model_type" and raw.strip() == b"null":
            return model()  # Go decodes `null` into a zero value
        where = ".".join(str(p) for p in first["loc"])
        raise fail(400, f"invalid JSON: {where}: {first['msg']}" if where else f"invalid JSON: {first['msg']}") from None


async def read_status(request: web.Request) -> MirrorStatus:
    """The status-post body (the hot path): as `read_model(request, MirrorStatus)`, without pydantic."""
    raw = await request.read()
    if not raw.strip():
        raise fail(400, "invalid JSON: empty body")
    try:
        return decode_status(json.loads(raw))
    except ValueError as exc:  # json.JSONDecodeError and DecodeError
        raise fail(400, f"invalid JSON: {exc}") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    """A JSON object body, else 400."""
    raw = await request.read()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise fail(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail(400, "invalid JSON: expected an object")
    return data
