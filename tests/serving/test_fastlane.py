"""The API's fast lane in front of BentoML's middlewares: BentoML's HTTP metrics are still
recorded for the requests it takes, everything else takes BentoML's stack, and it stands in
only for the layers it knows."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from bentoml._internal.server.http.traffic import TimeoutMiddleware
from starlette.middleware.errors import ServerErrorMiddleware

from nbrec.pipeline.publish import publish
from nbrec.serving.fastlane import FastLane, install
from tests.serving.server import running_service


def _value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.service
def test_bentoml_metrics_count_the_api_requests_the_lane_takes(tmp_path, item_knn, small_data):
    url = f"sqlite:///{tmp_path / 'features.db'}"
    publish(item_knn, "f1", url, items=small_data.items)
    user = str(item_knn.user_ids_[0])
    env = {"NBREC_BENTOML_METRICS": "true"}
    with running_service(tmp_path, url, env=env) as base, httpx.Client(base_url=base) as client:
        for _ in range(5):
            assert client.post("/recommend", json={"user_id": user, "k": 3}).status_code == 200
        assert client.post("/recommend", json={"user_id": user, "k": -1}).status_code == 422
        assert client.get("/recommend").status_code == 405  # BentoML's stack: its router
        text = client.get("/metrics").text
    total = "bentoml_service_request_total"
    assert _value(text, total, endpoint="/recommend", http_response_code="200") == 5
    assert _value(text, total, endpoint="/recommend", http_response_code="422") == 1
    assert _value(text, total, endpoint="/recommend", http_response_code="405") == 1
    duration = "bentoml_service_request_duration_seconds_count"
    assert _value(text, duration, endpoint="/recommend", http_response_code="200") == 5
    progress = "bentoml_service_request_in_progress"
    assert _value(text, progress, endpoint="/recommend") == 0
    assert _value(text, "nbrec_requests_total", endpoint="/recommend", status="200") == 5
    series = [line.rsplit(" ", 1)[0] for line in text.splitlines() if line[:1] not in ("#", "")]
    assert len(series) == len(set(series)), "a series is exported twice"
    assert re.search(r'bentoml_service_request_total\{endpoint="/metrics"', text) is None


class _App:
    """Stands for a built Starlette app: its ``middleware_stack``."""

    def __init__(self, stack) -> None:
        self.middleware_stack = stack


class _Unknown:
    def __init__(self, app) -> None:
        self.app = app


async def _inner(scope, receive, send) -> None:
    return None


def test_the_lane_stands_in_only_for_layers_it_knows():
    known = ServerErrorMiddleware(TimeoutMiddleware(_inner, timeout=7))
    app = _App(known)
    lane = install(app, {}, _inner)
    assert isinstance(lane, FastLane) and app.middleware_stack is lane
    assert lane.stack is known and lane.deadlines.timeout == 7 and lane.metrics is None
    assert install(app, {}, _inner) is None  # once
    other = _App(ServerErrorMiddleware(_Unknown(TimeoutMiddleware(_inner, timeout=7))))
    assert install(other, {}, _inner) is None
    assert not isinstance(other.middleware_stack, FastLane)


def test_the_last_request_time_is_written_at_the_flush_and_never_goes_back():
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware

    from nbrec.serving.bentoml_metrics import BentoMLMetrics

    middleware = RunnerTrafficMetricsMiddleware(_inner, namespace="bentoml_service")
    metrics = BentoMLMetrics(middleware)
    gauge = middleware.metrics_last_request_timestamp.labels(**metrics._names())
    before = time.time()
    metrics.start("/recommend")
    metrics.done("/recommend", 200, 0.001)
    metrics.start("/healthz")  # a path BentoML does not stamp
    metrics.done("/healthz", 200, 0.001)
    assert gauge._value.get() < before  # not yet: at the flush
    metrics.flush()
    stamped = gauge._value.get()
    assert before <= stamped <= time.time()
    gauge.set(stamped + 60)  # a later request through BentoML's own stack
    metrics.start("/recommend")
    metrics.flush()
    assert gauge._value.get() == stamped + 60
