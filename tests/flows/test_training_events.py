"""Retraining on production traffic: /feedback over HTTP -> journal -> nbrec ingest ->
``--events warehouse`` -> a new live version in which an event-only user is a known user."""

from __future__ import annotations

import time

import httpx
import pytest

from nbrec.events.ingest import run_ingest
from nbrec.pipeline import model_store
from tests.serving.server import running_service

pytestmark = pytest.mark.flows
USER = "event-only-user"


def test_retrain_with_warehouse_events_serves_the_event_only_user(
    training, tiny_data, pipeline_home
):
    base = training.run_training(dataset=str(tiny_data), model="item_knn", notebooks=[])
    assert base["status"] == "completed", base
    items = [str(i) for i in model_store.load_model(base["version"]).item_ids_[:6]]
    with running_service(pipeline_home, "") as url, httpx.Client(base_url=url, timeout=10) as http:
        before = http.post("/recommend", json={"user_id": USER, "k": 5}).json()
        assert before["fallback"] == "unknown_user"
        for n, item in enumerate(items):
            answer = http.post("/feedback", json={"user_id": USER, "item_id": item,
                                                  "event": ("click", "purchase")[n % 2]})  # fmt: skip
            assert answer.status_code == 200 and answer.json()["durable"] is True

        counts = run_ingest(archive_logs=False)
        assert counts["ingested"] == len(items) and counts["journal_pending"] == 0
        retrained = training.run_training(dataset=str(tiny_data), model="item_knn", notebooks=[],
                                          events="warehouse", tolerance=1.0)  # fmt: skip
        assert retrained["status"] == "completed", retrained
        assert retrained["version"] != base["version"]  # the data hash covers the events

        deadline = time.monotonic() + 30
        while True:
            after = http.post("/recommend", json={"user_id": USER, "k": 5}).json()
            if after["model_version"] == retrained["version"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert after["model_version"] == retrained["version"]
        assert after["fallback"] is None, after  # a personal answer: the user is known
        assert len(after["items"]) == 5
        assert not {i["item_id"] for i in after["items"]} & set(items)  # seen items left out

    again = training.run_training(dataset=str(tiny_data), model="item_knn", notebooks=[],
                                  events="warehouse", tolerance=1.0)  # fmt: skip
    assert again["version"] == retrained["version"]  # no new events, no new version
