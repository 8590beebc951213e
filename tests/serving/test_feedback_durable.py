"""/feedback over HTTP against the real service: 200 only once durable, 503 + Retry-After
otherwise, and every acknowledged event in the warehouse exactly once after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from nbrec.events.ack_clients import AcknowledgedFeedback
from nbrec.events.warehouse import EVENTS, Warehouse
from nbrec.lifetime import kill_tree, wait_ready
from nbrec.pipeline.publish import publish
from nbrec.store import open_store
from tests.serving.server import free_port, service_env

pytestmark = pytest.mark.service
NBREC = [sys.executable, "-m", "nbrec"]


def _start(workdir, store_url, env):
    port = free_port()
    log = open(workdir / f"service-{port}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [*NBREC, "serve", "--port", str(port)], env={**service_env(workdir, store_url), **env},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/readyz", "nbrec serve", 90, proc, workdir / f"service-{port}.log")
    except (RuntimeError, TimeoutError):
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc, url


@pytest.fixture
def published(tmp_path, item_knn, small_data):
    url = f"sqlite:///{tmp_path / 'features.db'}"
    store = open_store(url)
    publish(item_knn, "v1", store, items=small_data.items)
    store.close()
    return url


def _ingest(tmp_path, env) -> None:
    run = subprocess.run([*NBREC, "ingest"], capture_output=True, text=True,
                         env={**service_env(tmp_path, "unused"), **env})  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]


def _warehouse_ids(root) -> list[str]:
    dataset = Warehouse(root).dataset(EVENTS)
    return [] if dataset is None else dataset.to_table()["event_id"].to_pylist()


def test_sigkill_mid_stream_loses_no_acknowledged_feedback(tmp_path, published, item_knn):
    env = {"NBREC_WAREHOUSE": str(tmp_path / "wh")}
    proc, url = _start(tmp_path, published, env)
    users = [str(u) for u in item_knn.user_ids_[:50]]
    with AcknowledgedFeedback(url, users, ["i0001"], clients=8) as clients:
        clients.wait_for(300, timeout=60)
        kill_tree(proc.pid)  # mid-stream: requests are in flight
        proc.wait()
    acknowledged = clients.acknowledged
    assert len(acknowledged) >= 300
    _ingest(tmp_path, env)
    stored = _warehouse_ids(tmp_path / "wh")
    assert len(stored) == len(set(stored)), "an event is in the warehouse twice"
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost"


def test_not_durable_in_time_is_503_with_retry_after_and_nothing_applied(
    tmp_path, published, item_knn
):
    # A Redis journal nobody listens on: the commit fails, the client is told to retry.
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = {"NBREC_EVENTS_URL": dead, "NBREC_EVENTS_RETRY_AFTER": "2"}
    proc, url = _start(tmp_path, published, env)
    try:
        body = {"user_id": str(item_knn.user_ids_[0]), "item_id": "i0001", "event": "click",
                "event_id": "e-1"}  # fmt: skip
        answer = httpx.post(f"{url}/feedback", json=body, timeout=10)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "2"
        assert answer.json()["event_id"] == "e-1" and "retry" in answer.json()["error"]
        metrics = httpx.get(f"{url}/metrics").text
        assert 'nbrec_requests_total{endpoint="/feedback",status="503"} 1.0' in metrics
        assert (
            "nbrec_feedback_events_total{" not in metrics
        )  # nothing applied: no seen item, no reward
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_retried_event_id_reaches_the_warehouse_once(tmp_path, published, item_knn):
    env = {"NBREC_WAREHOUSE": str(tmp_path / "wh")}
    proc, url = _start(tmp_path, published, env)
    try:
        body = {"user_id": "brand-new-user", "item_id": "i0002", "event": "purchase",
                "value": 12.5, "event_id": "order-77"}  # fmt: skip
        first = httpx.post(f"{url}/feedback", json=body, timeout=10)
        second = httpx.post(f"{url}/feedback", json=body, timeout=10)
        assert first.status_code == second.status_code == 200
        assert first.json()["event_id"] == "order-77" and first.json()["durable"] is True
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    _ingest(tmp_path, env)
    table = Warehouse(tmp_path / "wh").dataset(EVENTS).to_table().to_pylist()
    assert [(r["event_id"], r["user_id"], r["value"]) for r in table] == [
        ("order-77", "brand-new-user", 12.5)
    ]
