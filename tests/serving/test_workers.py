"""Two BentoML workers (``NBREC_WORKERS=2``): both answer, and every scrape of ``/metrics``,
whichever worker takes it, shows the totals of both."""

from __future__ import annotations

import http.client
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nbrec.pipeline.publish import publish
from tests.serving.server import running_service

pytestmark = pytest.mark.service
REQUESTS = 240
BURST_ROUNDS = 5


def _a_burst_of_connections_lands_on_both_workers(base: str, users: list[str], logs) -> None:
    """Keep-alive connections opened together (a balancer's pool) are shared by the workers
    (nbrec.serving.accept), not all taken by whichever worker woke first."""
    before = _lines_per_writer(logs)
    url = httpx.URL(base)
    connections = [http.client.HTTPConnection(url.host, url.port, timeout=10) for _ in range(16)]
    for connection in connections:  # all connected before any request: one burst
        connection.connect()
    for _ in range(BURST_ROUNDS):
        for connection, user in zip(connections, users, strict=False):
            body = json.dumps({"user_id": user, "k": 5})
            connection.request("POST", "/recommend", body, {"content-type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
    for connection in connections:
        connection.close()
    deadline = time.monotonic() + 10  # RR log lines are written off the request path
    while True:
        after = _lines_per_writer(logs)
        served = {name: after[name] - before.get(name, 0) for name in after}
        if sum(served.values()) == BURST_ROUNDS * len(connections):
            break
        assert time.monotonic() < deadline, served
        time.sleep(0.1)
    # Each connection stays with the worker that accepted it: a worker's lines / rounds is the
    # number of connections it took. Both take at least 4 of 16.
    counts = sorted(served.values())
    assert len(counts) == 2 and counts[0] >= 4 * BURST_ROUNDS, f"lines per worker: {served}"


def _lines_per_writer(logs) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in logs.glob("rr-*.jsonl")}


def _value(text: str, series: str) -> float | None:
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, flags=re.M)
    return float(found.group(1)) if found else None


def test_two_workers_share_their_counters_and_histograms(tmp_path, item_knn, small_data):
    url = f"sqlite:///{tmp_path / 'features.db'}"
    publish(item_knn, "w1", url, items=small_data.items)
    users = [str(u) for u in item_knn.user_ids_[:REQUESTS]]
    with running_service(tmp_path, url, env={"NBREC_WORKERS": "2"}) as base:

        def ask(user: str) -> int:
            # A new connection per request: the kernel spreads them over both workers.
            return httpx.post(f"{base}/recommend", json={"user_id": user, "k": 5}).status_code

        with ThreadPoolExecutor(6) as pool:
            assert set(pool.map(ask, users)) == {200}
        requests = 'nbrec_requests_total{endpoint="/recommend",status="200"}'
        durations = 'nbrec_request_duration_seconds_count{endpoint="/recommend"}'
        deadline = time.monotonic() + 10  # the last counters move just after their answers
        while _value(httpx.get(f"{base}/metrics").text, requests) != REQUESTS:
            assert time.monotonic() < deadline, httpx.get(f"{base}/metrics").text[-2000:]
            time.sleep(0.2)
        for _ in range(12):  # new connections: both workers take scrapes
            text = httpx.get(f"{base}/metrics").text
            assert _value(text, requests) == REQUESTS
            assert _value(text, durations) == REQUESTS
            served = sum(
                float(v)
                for v in re.findall(r"^nbrec_recommendations_total\{.*\} (\S+)$", text, re.M)
            )
            assert served == REQUESTS
            series = [
                line.rsplit(" ", 1)[0] for line in text.splitlines() if line[:1] not in ("#", "")
            ]
            assert len(series) == len(set(series)), "a series is exported twice"
        _a_burst_of_connections_lands_on_both_workers(base, users, tmp_path / "var" / "logs")
    # RR log files are per process (rr-<start>-<pid>.jsonl): both workers answered requests.
    writers = [p for p in (tmp_path / "var" / "logs").glob("rr-*.jsonl") if p.read_text().strip()]
    assert len(writers) == 2, f"one worker answered everything: {writers}"
