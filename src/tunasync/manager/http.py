"""Go/gin-shaped replies: compact Go JSON with `application/json; charset=utf-8`, `{"error": ...}`."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..models import MirrorStatus, gojson, safejson
from ..models.names import name_problem
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


# Body limits per route kind (bytes): far above what a worker or tunasynctl sends, far below what
# would let one client fill the database or the manager's memory.
SMALL_BODY = 16 * 1024          # registration, set-size
STATUS_BODY = 256 * 1024        # one mirror status (error_msg is free text)
SCHEDULES_BODY = 2 * 1024 * 1024  # next run of every mirror of a worker (thousands of mirrors)
ARCHIVE_BODY = 64 * 1024        # one mirror's archive figures
CMD_BODY = 64 * 1024            # tunasynctl commands (args, options)
MAX_BODY = max(SMALL_BODY, STATUS_BODY, SCHEDULES_BODY, ARCHIVE_BODY, CMD_BODY)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, at most `limit` bytes: 413 with the limit beyond it."""
    try:
        return await safejson.read_capped(request, limit)
    except safejson.BodyTooLarge as exc:
        raise fail(413, str(exc)) from None


def parse_json(raw: bytes) -> Any:
    """Decoded JSON with the nesting limit; 400 `invalid JSON: ...` otherwise."""
    try:
        return safejson.loads(raw)
    except ValueError as exc:  # malformed, bad UTF-8, or nested too deeply
        raise fail(400, f"invalid JSON: {exc}") from None


async def read_model(request: web.Request, model: type[M], limit: int = SMALL_BODY) -> M:
    """Decode the body as `model`; malformed JSON or wrong types → 400 with the reason, nothing done.

    Go (quirk 35) answers 400 but then acts on zero values; we stop.
    """
    raw = await read_body(request, limit)
    if not raw.strip():
        raise fail(400, "invalid JSON: empty body")
    parse_json(raw)  # the nesting limit and a plain reason for malformed text; the model parses again
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
    raw = await read_body(request, STATUS_BODY)
    if not raw.strip():
        raise fail(400, "invalid JSON: empty body")
    data = parse_json(raw)
    try:
        return decode_status(data)
    except ValueError as exc:  # DecodeError
        raise fail(400, f"invalid JSON: {exc}") from None


async def read_object(request: web.Request, limit: int) -> dict[str, Any]:
    """A JSON object body, else 400."""
    data = parse_json(await read_body(request, limit))
    if not isinstance(data, dict):
        raise fail(400, "invalid JSON: expected an object")
    return data


def check_name(name: str, what: str = "mirror name") -> None:
    """400 when a client-supplied mirror name or worker ID breaks the rules of models.names."""
    problem = name_problem(name, what)
    if problem is not None:
        raise fail(400, problem)
