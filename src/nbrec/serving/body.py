"""Reading a request body: JSON only, bounded, every key once, and a 4xx that says why."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope

from nbrec.serving.schemas import MAX_BODY_BYTES, PATTERN_MESSAGE


class HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False)[:5]:
        # A location can hold a client's dict key: shown escaped, never as raw control bytes.
        where = ".".join(str(p) if str(p).isprintable() else ascii(p) for p in err["loc"])
        message = PATTERN_MESSAGE if err["type"] == "string_pattern_mismatch" else err["msg"]
        parts.append(f"{where or 'body'}: {message}")
    return "; ".join(parts)


def _media_type(value: bytes) -> bytes:
    return value.partition(b";")[0].strip().lower()


class BodyDeadline:
    """Request bodies must arrive within ``timeout`` seconds (408 after): a client that declares
    a body and stalls must not hold a connection and a slot for BentoML's whole 10 s.

    One watchdog task for all requests (it wakes a few times a second and cancels overdue
    reads) instead of a timer per request: ``asyncio.timeout`` costs a timer-heap entry per
    request, several times the cost of the checks it guards.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._reading: dict[asyncio.Task, float] = {}  # task -> deadline (monotonic)
        self._expired: set[asyncio.Task] = set()
        self._watchdog: asyncio.Task | None = None

    async def read(self, scope: Scope, receive: Receive) -> bytes:
        task = asyncio.current_task()
        self._reading[task] = time.monotonic() + self.timeout
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        try:
            return await read_body(scope, receive)
        except asyncio.CancelledError:
            if task not in self._expired:
                raise  # someone else's cancellation (BentoML's timeout, shutdown)
            self._expired.discard(task)
            task.uncancel()
            raise HTTPError(
                408, f"the request body did not arrive within {self.timeout:g} s"
            ) from None
        finally:
            self._reading.pop(task, None)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(self.timeout / 4, 0.25))
            now = time.monotonic()
            for task, deadline in list(self._reading.items()):
                if deadline <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()


async def read_body(scope: Scope, receive: Receive) -> bytes:
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
    if _maybe_repeated_key(body, found):
        _refuse_duplicate_keys(body)
    return found


# Every key of a JSON text ends with its closing quote, optional spaces and a colon. In a body
# with no quote followed by a space, ``body.count(b'":')`` counts every key written (a string
# value can add to it only with an escaped quote before a colon), so it equals the number of
# distinct keys the model kept only if no key was written twice: then no second parse.
DICT_FIELDS = ("filters", "user_features")
_QUOTE_SPACE = re.compile(rb'"[ \n\t\r]').search


def _maybe_repeated_key(body: bytes, model: BaseModel) -> bool:
    if _QUOTE_SPACE(body) is not None:  # one pass (``bytes in bytes`` costs ~1 us each)
        return True
    fields = model.model_fields_set
    keys = len(fields)
    for name in DICT_FIELDS:
        if name in fields:
            keys += len(getattr(model, name) or ())
    return body.count(b'":') != keys


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

    Called only when the cheap count in ``parse`` cannot rule a repeated key out.
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
