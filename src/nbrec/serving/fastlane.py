"""The worker's ASGI front for the API: ``POST /recommend``, ``/similar_items``, ``/feedback``.

BentoML wraps every request in its middlewares, outermost first: Starlette's error middleware,
its HTTP metrics, an OpenTelemetry span, an access-log line, a timeout (a task, a future and a
timer per request), then its context object, exception middleware and routers. For the API paths
most of them do nothing (nbrec lists them in ``tracing.excluded_urls`` and the access log's
``skip_paths``; its handlers catch every exception and never use the context object), yet
together they cost about as much CPU as nbrec's whole answer (benchmarks/serving/RESULTS.md).

``FastLane`` becomes the outermost layer of the worker's app at start-up (``ApiFastPath`` puts
it there when the lifespan passes through) and hands API requests straight to nbrec's handlers,
doing itself what BentoML's layers would have done for them:

- BentoML's HTTP metrics (when on): the same metric objects, the same labels and values
  (``bentoml_service_request_total``, ``..._request_duration_seconds``,
  ``..._request_in_progress``), added up per path and status and written as sums a few times
  a second and before every scrape, instead of four ``labels(**kwargs)`` calls and five
  multiprocess-file writes per request;
- BentoML's timeout (``traffic.timeout``): one ticker task for all requests instead of a
  task, a future and a timer each; an overdue request is cancelled and answered 504 with
  BentoML's message (nbrec's handler counts and logs it, as before).

nbrec's handlers write their answers through ``nbrec.serving.direct`` (one write, h11's
serialising skipped when the exchange allows it).

It is installed only if every layer it would skip is one of those known above; anything else
(CORS, a concurrency limit, another metrics middleware) keeps the normal way for everything.
Every other request (other paths, other methods) takes BentoML's whole stack, unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from nbrec.serving.bentoml_metrics import BentoMLMetrics
from nbrec.serving.direct import respond
from nbrec.serving.http import JSON_TYPE, KNOWN_PATHS

logger = logging.getLogger("nbrec.serving")

# BentoML's layers in front of the service's own middlewares, and what the lane does for each.
TICK = 0.25  # seconds between the lane's checks of deadlines and writes of metric sums
SKIPPABLE = {
    "ServerErrorMiddleware": "nbrec's handlers answer every exception themselves",
    "RunnerTrafficMetricsMiddleware": "recorded by the lane (BentoMLMetrics)",
    "OpenTelemetryMiddleware": "the API paths are in tracing.excluded_urls",
    "AccessLogMiddleware": "the API paths are in logging.access.skip_paths",
    "TimeoutMiddleware": "enforced by the lane (Deadlines)",
}


class Deadlines:
    """Requests running longer than ``timeout`` seconds, cancelled by ``expire()`` (called a
    few times a second): a dict entry per request instead of a timer."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._running: dict[asyncio.Task, float] = {}
        self._expired: set[asyncio.Task] = set()

    def enter(self, task: asyncio.Task) -> None:
        self._running[task] = time.monotonic() + self.timeout

    def leave(self, task: asyncio.Task) -> bool:
        """Forget ``task``; True if ``expire`` cancelled it (the cancellation is undone)."""
        self._running.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    def expire(self) -> None:
        now = time.monotonic()
        for task, deadline in list(self._running.items()):
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()


class FastLane:
    """The outermost ASGI layer: API requests to nbrec's handlers, the rest to ``stack``."""

    def __init__(self, stack: ASGIApp, handlers: dict[str, Callable], metrics: BentoMLMetrics | None,
                 timeout: float | None) -> None:  # fmt: skip
        self.stack = stack
        self.handlers = handlers
        self.metrics = metrics
        self.deadlines = Deadlines(timeout) if timeout else None
        message = f"Not able to process the request in {timeout} seconds"
        self.timeout_body = orjson.dumps({"error": message})
        self._ticker: asyncio.Task | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if scope["method"] == "POST":
                handler = self.handlers.get(path)
                if handler is not None:
                    return await self._api(handler, scope, receive, send)
            elif path == "/metrics" and self.metrics is not None:
                self.metrics.flush()  # the scrape sees every request answered so far
        await self.stack(scope, receive, send)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            if self.deadlines is not None:
                self.deadlines.expire()
            if self.metrics is not None:
                self.metrics.flush()

    async def _api(self, handler, scope: Scope, receive: Receive, send: Send) -> None:
        path, metrics, deadlines = scope["path"], self.metrics, self.deadlines
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        start = time.perf_counter()
        if metrics is not None:
            metrics.start(path)
        task = asyncio.current_task() if deadlines is not None else None
        if task is not None:
            deadlines.enter(task)
        status = 0
        try:
            status = await handler(scope, receive, send)
        except asyncio.CancelledError:
            if task is None or not deadlines.leave(task):
                raise
            task = None
            status = 504  # BentoML's answer to a request over traffic.timeout
            await respond(send, 504, [JSON_TYPE], self.timeout_body)
        finally:
            if task is not None:
                deadlines.leave(task)
            if metrics is not None:
                metrics.done(path, status, time.perf_counter() - start)


def install(app, handlers: dict[str, Callable], inner: object) -> FastLane | None:
    """Put a ``FastLane`` in front of ``app``'s built middleware stack (a Starlette app), if
    every layer down to ``inner`` (the ``ApiFastPath`` instance) is one it can stand in for."""
    stack = getattr(app, "middleware_stack", None)
    if stack is None or isinstance(stack, FastLane):
        return None
    metrics, timeout, layer, skipped = None, None, stack, []
    while layer is not inner:
        name = type(layer).__name__
        skipped.append(name)
        if name not in SKIPPABLE:
            logger.warning("API fast lane not installed: %s in front of the service", name)
            return None
        if name == "RunnerTrafficMetricsMiddleware":
            metrics = BentoMLMetrics(layer)
        elif name == "TimeoutMiddleware":
            timeout = layer.timeout
        layer = getattr(layer, "app", None)
        if layer is None:
            return None
    lane = app.middleware_stack = FastLane(stack, handlers, metrics, timeout)
    logger.info("API fast lane in front of %s", ", ".join(skipped))
    return lane


class ApiFastPath:
    """ASGI middleware sending ``POST`` to the API paths straight to nbrec's raw handlers.

    The bento installs it with ``Service.add_asgi_middleware``: it then runs inside BentoML's
    HTTP metrics, tracing, access-log and timeout middlewares, and in front of its per-request
    context object (a Request and context variables for ``@bentoml.api`` handlers), exception
    middleware and router (BentoML's routes, the mount, nbrec's router), which the raw
    handlers do not use: about a fifth of the CPU per request (benchmarks/serving/RESULTS.md).
    ``GET /readyz`` goes to nbrec's readiness too: BentoML's own answers an empty body, and a
    load balancer (and people) should see ``degraded`` and the reason.
    Anything else (other paths, other methods: 405) takes the normal way.
    When the lifespan passes through at start-up, it puts ``FastLane`` in front of BentoML's
    middlewares: API requests then reach their handlers before all of them.
    """

    def __init__(self, app, serving) -> None:
        self.app = app
        self.handlers = serving.handlers
        self.serving = serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and "app" in scope:
                install(scope["app"], self.handlers, self)
            return await self.app(scope, receive, send)
        if scope["method"] == "POST":
            handler = self.handlers.get(scope["path"])
            if handler is not None:
                return await handler(scope, receive, send)  # counts and logs itself
        app = self.serving.app if scope["path"] == "/readyz" else self.app
        await counted(app, self.serving, scope, receive, send)


async def counted(app, serving, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` and count its answer in ``nbrec_requests_total``, under the path if it is one
    of the service's, else ``other``: made-up paths never make new series. An answer BentoML
    gives instead (its timeout, 504) is counted too."""
    start, status = time.perf_counter(), 0

    async def send_status(message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, send_status)
    except asyncio.CancelledError:
        status = status or 504
        raise
    finally:
        service = serving.service
        if service is not None and status:
            endpoint = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            m = service.metrics
            m.child(m.requests, endpoint, str(status)).inc()
            m.child(m.request_duration, endpoint).observe(time.perf_counter() - start)
