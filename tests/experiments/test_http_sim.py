"""``run_http`` against a mock service: what it counts, and an unreachable service."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from nbrec.experiments import http_sim


def serve(monkeypatch, handler) -> None:
    """Make run_http's client talk to ``handler`` instead of the network."""
    real = httpx.Client
    monkeypatch.setattr(
        httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(handler), **kw)
    )


def test_refused_clicks_are_counted(monkeypatch, population):
    liked = population.item_ids[population.likes.any(axis=0)][:5].tolist()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/recommend":
            items = [{"item_id": str(i)} for i in liked]
            return httpx.Response(200, json={"request_id": "r", "items": items, "variant": "a"})
        return httpx.Response(503, json={"error": "store down"})

    serve(monkeypatch, handler)
    population = replace(population, p_match=1.0, p_other=1.0)  # every shown item is clicked
    summary = http_sim.run_http("http://sim", population, users=3, requests=4, k=5)
    assert summary.requests == 4 and summary.errors == 0
    assert summary.clicks == 20 and summary.feedback_errors == 20


def test_unreachable_service_is_a_connection_error(monkeypatch, population):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feedback":
            raise httpx.ConnectError("refused", request=request)
        items = [{"item_id": str(population.item_ids[0])}]
        return httpx.Response(200, json={"request_id": "r", "items": items})

    serve(monkeypatch, handler)
    population = replace(population, p_match=1.0, p_other=1.0)  # every shown item is clicked
    with pytest.raises(ConnectionError, match="http://sim"):
        http_sim.run_http("http://sim", population, users=2, requests=2, k=1)
