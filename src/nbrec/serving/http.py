"""The HTTP face of ``RecommendationService``: a Starlette router the BentoML service mounts.

The API handlers are raw ASGI apps that call the service inline: the request path is a lookup
and a filter (microseconds), cheaper than a hop to a thread pool or Starlette's request and
response objects. Every answer is JSON with a ``request_id``; bad input gets a 4xx naming the
problem; no input produces a 5xx.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from nbrec.events.journal import JournalUnavailable
from nbrec.serving.admin import ADMIN_PATHS, admin_routes
from nbrec.serving.apidocs import docs_routes
from nbrec.serving.body import BodyDeadline, HTTPError, parse, user_of
from nbrec.serving.direct import respond
from nbrec.serving.loaded_version import InvalidFilter
from nbrec.serving.schemas import FeedbackRequest, RecommendRequest, SimilarItemsRequest
from nbrec.serving.service import NotFound, NotReady, RecommendationService, new_request_id
from nbrec.settings import get_settings

logger = logging.getLogger("nbrec.serving")
JSON = "application/json"
JSON_TYPE = (b"content-type", b"application/json")
HTML = "text/html; charset=utf-8"
NO_DASHBOARD = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta http-equiv='refresh' "
    "content='5'><title>nbrec dashboard</title></head><body><p>The service is starting; the "
    "dashboard appears here in a moment.</p></body></html>"
)
API_PATHS = ("/recommend", "/similar_items", "/feedback")
# Every path the service (nbrec's routes and BentoML's) answers: a label of its own each.
KNOWN_PATHS = frozenset((*API_PATHS, *ADMIN_PATHS, "/healthz", "/readyz", "/livez", "/metrics",
                         "/dashboard", "/dashboard/report", "/openapi.json", "/docs",
                         "/docs.json", "/"))  # fmt: skip


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


async def _durable_feedback(
    service: RecommendationService, request: FeedbackRequest, request_id: str
) -> dict[str, Any]:
    """/feedback: 200 only once the event is durable (awaited: the event loop keeps serving
    while the journal's writer thread commits, so requests share commits)."""
    ticket = service.submit_feedback(request, request_id)
    if ticket.future is not None:
        try:
            await asyncio.wait_for(asyncio.wrap_future(ticket.future), service.journal_timeout)
        except (TimeoutError, JournalUnavailable) as exc:
            message = str(exc) or f"the event was not durable within {service.journal_timeout:g} s"
            error = JournalUnavailable(message)
            error.event_id = ticket.event["event_id"]
            raise error from None
    return service.complete_feedback(ticket)


class _AsgiApp:
    """Hands Starlette's Route an ASGI app: a plain function would be wrapped as an endpoint."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send):
        return self.app(scope, receive, send)


class ServingApp:
    """The Starlette app; ``service`` is attached at start-up (building the app does no work).

    ``dashboard_path()`` finds the rendered product report (None: not built yet) and
    ``dashboard_page(query) -> (status, html)`` renders the live dashboard; the composition
    root (``nbrec.wiring``) plugs in the monitoring's.
    """

    def __init__(
        self,
        service: RecommendationService | None = None,
        dashboard_path: Callable[[], Path | None] | None = None,
    ):
        self.service = service
        self.dashboard_path = dashboard_path
        # (query string) -> (status, html): the live dashboard (nbrec.monitoring.live_dashboard)
        self.dashboard_page: Callable[[dict[str, str]], tuple[int, str]] | None = None
        self.handlers: dict[str, Callable] = {}  # API path -> raw ASGI handler (POST only)
        self.body_deadline = BodyDeadline(get_settings().body_timeout)
        self.app = Router(
            routes=[
                Route("/recommend", self._endpoint("/recommend", RecommendRequest, "recommend"),
                      methods=["POST"]),
                Route("/similar_items",
                      self._endpoint("/similar_items", SimilarItemsRequest, "similar_items"),
                      methods=["POST"]),
                Route("/feedback", self._endpoint("/feedback", FeedbackRequest, "feedback"),
                      methods=["POST"]),
                Route("/healthz", self.healthz),
                Route("/readyz", self.readyz),
                Route("/metrics", self.metrics),
                Route("/dashboard", self.dashboard),
                Route("/dashboard/report", self.report),
                *docs_routes(),  # / (redirect), /docs: Swagger UI for /openapi.json
                Route("/openapi.json", self.openapi),
                *admin_routes(lambda: self.service),  # 404 unless NBREC_ADMIN_TOKEN is set
            ]
        )  # fmt: skip

    def _endpoint(self, path: str, model: type[BaseModel], method: str):
        """A raw ASGI app (Starlette routes it and answers 405 for other methods).

        Raw because this is the hot path: Starlette's Request/Response wrappers and exception
        middleware cost more than nbrec's whole lookup.
        """

        async def handle(scope: Scope, receive: Receive, send: Send) -> int:
            """Answer; returns the status sent."""
            start = time.perf_counter()
            request_id = new_request_id()
            try:
                return await answer(scope, receive, send, start, request_id)
            except asyncio.CancelledError:  # BentoML's timeout answered (504): count and log it
                service = self.service
                if service is not None:
                    m = service.metrics
                    m.child(m.requests, path, "504").inc()
                    m.child(m.request_duration, path).observe(time.perf_counter() - start)
                    service.log_error(path, 504, request_id, None, "timed out in the service")
                raise

        async def answer(scope, receive, send, start: float, request_id: str) -> int:
            service = self.service
            body = b""
            headers: list[tuple[bytes, bytes]] = []
            try:
                if service is None:
                    raise NotReady("the service is starting")
                body = await self.body_deadline.read(scope, receive)
                request = parse(model, body)
                if method == "feedback":
                    payload, status = await _durable_feedback(service, request, request_id), 200
                else:
                    payload, status = getattr(service, method)(request, request_id), 200
            except HTTPError as exc:
                payload, status = {"error": str(exc)}, exc.status
            except JournalUnavailable as exc:  # not durable in time: the client retries
                retry = f"{service.journal_retry_after:g}"
                payload, status = {"error": f"{exc}; retry after {retry} s", "retry": True}, 503
                event_id = getattr(exc, "event_id", None)
                if event_id is not None:
                    payload["event_id"] = event_id
                    payload["error"] += f" with the same event_id ({event_id})"
                headers.append((b"retry-after", retry.encode()))
            except NotFound as exc:
                payload, status = {"error": str(exc.args[0])}, 404
            except InvalidFilter as exc:
                payload, status = {"error": str(exc)}, 422
            except NotReady as exc:
                payload, status = {"error": str(exc)}, 503
            except Exception:  # a bug, never the client's fault: say so, keep serving
                logger.exception("%s failed", path)
                payload, status = {"error": "internal error; see the service log"}, 500
            if status != 200:
                payload["request_id"] = request_id
                payload["model_version"] = service.live_version if service else None
                if service is not None:
                    service.log_error(path, status, request_id, user_of(body), payload["error"])
            # Written directly when the exchange allows it (nbrec.serving.direct), else via send.
            await respond(send, status, [JSON_TYPE, *headers], orjson.dumps(payload))
            if service is not None:
                m = service.metrics
                m.child(m.requests, path, str(status)).inc()
                m.child(m.request_duration, path).observe(time.perf_counter() - start)
            return status

        self.handlers[path] = handle
        return _AsgiApp(handle)

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if self.service is None:
            return json_response({"ready": False, "reason": "starting"}, 503)
        found = self.service.health()
        return json_response(found, 200 if found["ready"] else 503)

    async def dashboard(self, request: Request) -> Response:
        """The live product dashboard (``dashboard_page``, plugged in at start-up), computed in
        a worker thread: the event loop keeps answering the API meanwhile."""
        from starlette.concurrency import run_in_threadpool

        if self.dashboard_page is None:
            return Response(NO_DASHBOARD, status_code=503, media_type=HTML)
        status, body = await run_in_threadpool(self.dashboard_page, dict(request.query_params))
        return Response(body, status_code=status, media_type=HTML)

    async def report(self, request: Request) -> Response:
        """The product report notebook rendered by the ops report flow (nbrec.monitoring)."""
        from starlette.responses import FileResponse

        path = self.dashboard_path() if self.dashboard_path is not None else None
        if path is None:
            return json_response(
                {"error": "no dashboard rendered yet: run `make report` (or flows/report.py)"}, 404
            )
        return FileResponse(path, media_type="text/html")

    def metrics_text(self, local: bool = False) -> bytes:
        """nbrec's metrics; ``local``: without those in the multiprocess files (shared by the
        workers), for BentoML's ``/metrics`` which renders those files itself."""
        if self.service is None:
            return b""
        self.service.check_store()  # nbrec_store_up is fresh at every scrape
        metrics = self.service.metrics
        return metrics.render_local() if local else metrics.render()

    async def openapi(self, request: Request) -> Response:
        from nbrec.serving.openapi import openapi_document

        return json_response(openapi_document())

    async def metrics(self, request: Request) -> Response:
        return Response(self.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")
