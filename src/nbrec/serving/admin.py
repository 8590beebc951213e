"""Admin endpoints that change production state: reload, promote, rollback.

They exist only when ``NBREC_ADMIN_TOKEN`` is set (otherwise 404, as if absent) and need the
token in ``Authorization: Bearer <token>`` (or ``X-Admin-Token``), compared in constant time.
Wrong tokens are throttled per client (``nbrec.serving.throttle``: 429 with ``Retry-After``).
Promote goes through ``nbrec.pipeline.lifecycle``: a version the feature store lacks is published
from the registry, whose ``load_model`` refuses artifacts that fail their sha256 manifest; the
live version stays live on any error.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nbrec.serving.schemas import PromoteRequest
from nbrec.serving.throttle import WrongTokenBackoff
from nbrec.settings import get_settings
from nbrec.store import StoreError

logger = logging.getLogger("nbrec.serving")
ADMIN_PATHS = ("/admin/reload", "/admin/promote", "/admin/rollback")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def check_token(request: Request, backoff: WrongTokenBackoff | None = None) -> JSONResponse | None:
    """None if the request carries the admin token; else the refusal to send.

    With ``backoff``, a client that sent too many wrong tokens gets 429 until its wait is over.
    """
    token = get_settings().admin_token
    if not token:
        return _error(404, f"not found: {request.url.path} (admin endpoints are off)")
    client = request.client.host if request.client else "?"
    wait = backoff.retry_after(client) if backoff is not None else 0
    if wait:
        refused = _error(429, f"too many wrong admin tokens from {client}: retry in {wait} s")
        refused.headers["Retry-After"] = str(wait)
        return refused
    given = request.headers.get("x-admin-token", "")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = value.strip()
    if not given:
        return _error(401, "admin token required: send `Authorization: Bearer <NBREC_ADMIN_TOKEN>`")
    if not hmac.compare_digest(given.encode(), token.encode()):
        if backoff is not None:
            backoff.failed(client)
        return _error(403, "wrong admin token")
    if backoff is not None:
        backoff.succeeded(client)
    return None


def admin_routes(current_service: Callable[[], Any]) -> list[Route]:
    """The admin routes; ``current_service()`` is the ``RecommendationService`` (None while the
    app starts: it is attached after the routes are built)."""

    backoff = WrongTokenBackoff(free_tries=get_settings().admin_free_tries)

    async def guarded(request: Request, action) -> JSONResponse:
        refused = check_token(request, backoff)
        if refused is not None:
            return refused
        service = current_service()
        if service is None:
            return _error(503, "the service is starting")
        try:
            body = await action(request, service)
        except ValidationError as exc:
            return _error(422, f"invalid body: {exc.errors(include_url=False)[0]['msg']}")
        except KeyError as exc:  # unknown version (the message lists the registered ones)
            return _error(404, str(exc.args[0]))
        except StoreError as exc:  # the store is down: retry later, nothing changed
            return _error(
                503, f"feature store unavailable: {exc}; live stays {service.live_version}"
            )
        except (ValueError, RuntimeError) as exc:  # checksum mismatch, nothing to roll back, ...
            return _error(409, f"{type(exc).__name__}: {exc}; live stays {service.live_version}")
        logger.warning("admin %s: live is now %s", request.url.path, service.live_version)
        return JSONResponse({**body, "model_version": service.refresh()})

    async def reload(request: Request, service) -> dict:
        # Ask the store itself: with the store down this raises StoreError (503), where
        # ``service.refresh()`` would keep the last good version and say nothing.
        await run_in_threadpool(service.store.live_version)
        return {"reloaded": True}  # ``guarded`` then re-reads the live pointer

    async def promote(request: Request, service) -> dict:
        req = PromoteRequest.model_validate_json(await request.body() or b"{}")
        return {"promoted": await run_in_threadpool(_promote, req.version, service.store)}

    async def rollback(request: Request, service) -> dict:
        from nbrec.pipeline.lifecycle import rollback as do_rollback

        return {"rolled_back_to": await run_in_threadpool(do_rollback, service.store)}

    def endpoint(action):
        async def handle(request: Request) -> JSONResponse:
            return await guarded(request, action)

        return handle

    return [
        Route(path, endpoint(action), methods=["POST"])
        for path, action in zip(ADMIN_PATHS, (reload, promote, rollback), strict=True)
    ]


def _promote(version: str, store) -> str:
    """Promote a version known locally (store or registry); BentoML is never asked to look
    further (an unknown tag can make it search remote model repositories)."""
    from nbrec.pipeline import model_store
    from nbrec.pipeline.lifecycle import promote

    known = set(store.list_versions()) | {v.version for v in model_store.list_model_versions()}
    if version not in known:
        raise KeyError(f"unknown model version {version!r}; known: {sorted(known)[:20]}")
    return promote(version, store)
