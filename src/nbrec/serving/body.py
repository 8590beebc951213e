"""Reading a request body: JSON only, bounded, every key once, and a 4xx that says why."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope

from nbrec.serving.schemas import MAX_BODY_BYTES


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False)[:5]:
        # A location can hold a client's dict key: shown escaped, never as raw control bytes.
        where = ".".join(str(p) if str(p).isprintable() else ascii(p) for p in err["loc"])
        parts.append(f"{where or 'body'}: {err['msg']}")
    return "; ".join(parts)


def _media_type(value: bytes) -> bytes:
    return value.partition(b";")[0].strip().lower()


async def read_body(scope: Scope, receive: Receive, timeout: float | None = None) -> bytes:
    """``_read_body`` within ``timeout`` seconds (408 after): a client that declares a body and
    stalls must not hold a connection and a slot for BentoML's whole 10 s."""
    if timeout is None:
        return await _read_body(scope, receive)
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(scope, receive)
    except TimeoutError:
        raise HTTPError(408, f"the request body did not arrive within {timeout:g} s") from None


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    """The request body: JSON only (415), refused early (413) when over MAX_BODY_BYTES.

    JSON only also keeps browsers' "simple" cross-site requests out: a page elsewhere cannot
    post ``text/plain`` or a form here without a CORS preflight, which this service never grants.
    """
    media = b""
    for name, value in scope["headers"]:
        if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY_BYTES):
            raise HTTPError(
                413,
                f"request body too large ({value.decode()} bytes); the limit is {MAX_BODY_BYTES}",
            )
        if name == b"content-type":
            media = _media_type(value)
    if media != b"application/json":
        shown = media.decode("latin-1") if media.decode("latin-1").isprintable() else ascii(media)
        raise HTTPError(
            415, f"send Content-Type: application/json (got {shown or 'no Content-Type'})"
        )
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, "the client disconnected before sending the whole body")
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise HTTPError(413, f"request body too large; the limit is {MAX_BODY_BYTES} bytes")
        if not message.get("more_body", False):
            return body


def parse(model: type[BaseModel], body: bytes) -> Any:
    if not body:
        raise HTTPError(400, f"empty body: send a JSON object with the fields of {model.__name__}")
    try:
        found = model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise HTTPError(400, f"body is not valid JSON: {_validation_message(exc)}") from None
        raise HTTPError(422, f"invalid {model.__name__}: {_validation_message(exc)}") from None
    _refuse_duplicate_keys(body)
    return found


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        shown = key if key.isprintable() else ascii(key)
        raise HTTPError(422, f"duplicate key {shown!r} in a JSON object: send each key once")
    return found


def _refuse_duplicate_keys(body: bytes) -> None:
    """JSON parsers keep the last of two equal keys; which one a client meant is unknowable.

    A body pydantic accepted is valid JSON of at most 16 KiB: a second parse with a pairs hook
    costs microseconds.
    """
    # ValueError (not HTTPError): a form pydantic reads and json does not; nothing to add.
    with contextlib.suppress(ValueError):
        json.loads(body, object_pairs_hook=_unique_pairs)


def user_of(body: bytes) -> str | None:
    """Best effort: the user_id of a refused body, so its RR log line can be attributed."""
    try:
        user = orjson.loads(body).get("user_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(user)[:128] if isinstance(user, str | int) else None
