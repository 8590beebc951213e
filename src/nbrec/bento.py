"""The nbrec recommender as a BentoML service: thin, wired by ``nbrec.wiring``, logic in ``nbrec.serving``.

``nbrec serve`` runs ``bentoml serve nbrec.bento:NbrecService``; ``bentos/recommender`` is the
``bentoml build`` entry point (it imports this class).

The API is a Starlette router mounted with ``@bentoml.asgi_app``; BentoML runs the process
(workers, /healthz, /readyz, /metrics, lifecycle hooks, ``bentoml build``/containerize). Why
not ``@bentoml.api`` per endpoint: on that path BentoML adds a thread hop, IO-model
(de)serialisation and response-header injection to every request, several times the cost of
the lookup itself (see benchmarks/serving/RESULTS.md). nbrec logs and measures its endpoints
itself (RR log, nbrec_* metrics), so they skip BentoML's tracing spans and access-log lines;
BentoML's HTTP metrics middleware cannot skip paths (``NBREC_BENTOML_METRICS=false`` drops it).
``ApiFastPath`` (a middleware added with BentoML's ``add_asgi_middleware``) hands API requests
to nbrec's handlers before BentoML's context object, exception middleware and routing, and at
start-up puts ``nbrec.serving.fastlane.FastLane`` in front of BentoML's middlewares: API
requests then skip them all, BentoML's HTTP metrics and timeout done by the lane.
"""

from __future__ import annotations

import gc
import logging

import bentoml

from nbrec.serving.accept import share_accepts
from nbrec.serving.fastlane import ApiFastPath
from nbrec.serving.http import API_PATHS, ServingApp
from nbrec.settings import get_settings

http = ServingApp()  # the service object is attached in __init__, inside the worker

GC_THRESHOLDS = (10_000, 10, 100)  # gen0 allocations; gen1, gen2 collection ratios
# Paths without BentoML's per-request tracing span and access-log line.
FAST = [*API_PATHS, "/healthz", "/readyz", "/metrics"]


@bentoml.service(
    name="nbrec_recommender",
    workers=get_settings().workers,  # NBREC_WORKERS
    traffic={"timeout": 10},
    logging={"access": {"enabled": True, "skip_paths": FAST}},
    tracing={"excluded_urls": FAST},
    metrics={"enabled": get_settings().bentoml_metrics},
)
@bentoml.asgi_app(http.app, path="/")
class NbrecService:
    """POST /recommend, /similar_items, /feedback; GET /healthz, /readyz, /metrics."""

    def __init__(self) -> None:
        from nbrec.lifetime import die_with_parent
        from nbrec.wiring import start

        # The arbiter starts this worker in a session of its own: without this, a SIGKILL of
        # `nbrec serve` (its process group) leaves the worker answering on the port.
        die_with_parent()
        if get_settings().workers > 1:  # before uvicorn starts serving (lifespan first)
            share_accepts()
        self.core = start(http)
        # Start-up leaves ~10^6 long-lived objects (BentoML, pandas, ...): freezing them keeps
        # full garbage collections from pausing requests for tens of milliseconds (p99).
        gc.collect()
        gc.freeze()
        # BentoML's timeout middleware leaves a timer (handle, future) per request pending for
        # `traffic.timeout` seconds: ~10^5 live objects at full load, so with the default
        # thresholds (700, 10, 10) a full collection ran every ~0.5 s and took up to 100 ms.
        # Rarer collections: ~15% less CPU per request and p99 from ~100 ms to under 10 ms.
        gc.set_threshold(*GC_THRESHOLDS)
        # uvicorn's own access log (BentoML's is configured above) sits below the level BentoML
        # gives it, yet uvicorn builds every line's arguments while the logger has a handler up
        # its chain; without one it skips them, as under `uvicorn --no-access-log`.
        access = logging.getLogger("uvicorn.access")
        if not access.isEnabledFor(logging.INFO) and not access.handlers:
            access.propagate = False

    def __is_ready__(self) -> bool:
        return self.core.health()["ready"]

    def __metrics__(self, content: str) -> str:
        # BentoML's ``content`` already holds the multiprocess files' sums over the workers
        # (nbrec's shared counters and histograms among them): add only the per-process rest.
        return content + http.metrics_text(local=True).decode()

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.core.close()
        if http.dashboard_page is not None:  # its child process, if it started one
            http.dashboard_page.close()


# POST to the API paths skips BentoML's middlewares (nbrec.serving.fastlane).
NbrecService.add_asgi_middleware(ApiFastPath, serving=http)
