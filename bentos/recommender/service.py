"""The nbrec recommender as a BentoML service: thin, all logic is in ``nbrec.serving``.

The API is a Starlette app mounted with ``@bentoml.asgi_app``; BentoML runs the process
(workers, /healthz, /readyz, /metrics, ``bentoml build``/containerize). Why not
``@bentoml.api`` per endpoint: on this path BentoML adds a thread hop, IO-model
(de)serialisation, response-header injection, OpenTelemetry spans, access logs and its own
metrics to every request, about 7x the cost of the lookup itself (see
benchmarks/serving/RESULTS.md). nbrec measures and logs its endpoints itself (RR log,
nbrec_* metrics), so those paths skip BentoML's tracing, access log and HTTP metrics.
"""

from __future__ import annotations

import gc

import bentoml

from nbrec.serving.http import API_PATHS, ServingApp
from nbrec.settings import get_settings

http = ServingApp()  # the service object is attached in __init__, inside the worker

# Fast paths skip BentoML's per-request tracing span, access log line and traffic metrics.
FAST = [*API_PATHS, "/healthz", "/readyz", "/metrics"]


@bentoml.service(
    name="nbrec_recommender",
    workers=1,
    traffic={"timeout": 10},
    logging={"access": {"enabled": True, "skip_paths": FAST}},
    tracing={"excluded_urls": FAST},
    metrics={"enabled": get_settings().bentoml_metrics},
)
@bentoml.asgi_app(http.app, path="/")
class Recommender:
    """POST /recommend, /similar_items, /feedback; GET /healthz, /readyz, /metrics."""

    def __init__(self) -> None:
        from nbrec.serving.factory import build_service

        self.core = build_service()
        http.service = self.core
        self.core.refresh()
        # Start-up leaves ~10^6 long-lived objects (BentoML, pandas, ...): freezing them keeps
        # full garbage collections from pausing requests for tens of milliseconds (p99).
        gc.collect()
        gc.freeze()

    def __is_ready__(self) -> bool:
        return self.core.ready()[0]

    def __metrics__(self, content: str) -> str:
        return content + http.metrics_text().decode()

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.core.close()
