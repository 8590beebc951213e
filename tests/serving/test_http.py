"""The BentoML service over HTTP on a free port: every endpoint, bad input, hot swap, logs, metrics."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import redis

from nbrec.pipeline.publish import publish
from nbrec.serving.schemas import MAX_BODY_BYTES
from nbrec.store import open_store
from tests.serving.server import rr_lines, running_service

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="module")
def store_url(workdir):
    return f"sqlite:///{workdir / 'features.db'}"


@pytest.fixture(scope="module")
def base_url(workdir, store_url, item_knn, small_data):
    store = open_store(store_url)
    publish(item_knn, "v1", store, items=small_data.items)
    store.close()
    with running_service(workdir, store_url) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=10) as c:
        yield c


def test_recommend_known_user(client, item_knn):
    user = str(item_knn.user_ids_[0])
    r = client.post("/recommend", json={"user_id": user, "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert (
        body["model_version"] == "v1" and body["fallback"] is None and len(body["request_id"]) == 32
    )
    assert [i["item_id"] for i in body["items"]] == item_knn.recommend([user], k=5)[
        "item_id"
    ].tolist()


def test_cold_start_user_says_so(client):
    body = client.post("/recommend", json={"user_id": 12345, "k": 3}).json()
    assert body["fallback"] == "unknown_user" and len(body["items"]) == 3


def test_feedback_then_recommend(client, item_knn):
    user = str(item_knn.user_ids_[1])
    first = client.post("/recommend", json={"user_id": user, "k": 3}).json()
    top = first["items"][0]["item_id"]
    fb = client.post("/feedback", json={"user_id": user, "item_id": top, "event": "click",
                                        "request_id": first["request_id"]})  # fmt: skip
    assert fb.status_code == 200
    assert fb.json() == {"request_id": first["request_id"], "model_version": "v1", "accepted": True,
                         "stored": True, "durable": True, "event_id": fb.json()["event_id"]}  # fmt: skip
    again = client.post("/recommend", json={"user_id": user, "k": 3}).json()
    assert top not in [i["item_id"] for i in again["items"]]


def test_similar_items(client, item_knn):
    item = str(item_knn.item_ids_[0])
    body = client.post("/similar_items", json={"item_id": item, "k": 4}).json()
    assert body["model_version"] == "v1" and len(body["items"]) == 4
    missing = client.post("/similar_items", json={"item_id": "no-such-item"})
    assert missing.status_code == 404 and "no-such-item" in missing.json()["error"]


def test_health_ready_metrics(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    text = client.get("/metrics").text
    assert 'nbrec_live_model_info{model_version="v1"} 1.0' in text
    assert "nbrec_requests_total" in text and "process_resident_memory_bytes" in text
    # BentoML's HTTP metrics are off by default (they label by raw path: unbounded series);
    # nbrec counts every answer, GETs included, under a bounded endpoint label.
    assert "bentoml_service_request_total" not in text
    assert 'nbrec_requests_total{endpoint="/healthz",status="200"}' in text
    series = [line.rsplit(" ", 1)[0] for line in text.splitlines() if line and line[0] != "#"]
    assert len(series) == len(set(series)), "a series is exported twice"


def test_report_is_served_once_rendered(client, workdir):
    missing = client.get("/dashboard/report")
    assert missing.status_code == 404 and "make report" in missing.json()["error"]
    reports = workdir / "var" / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "performance_report.html").write_text("<html>report</html>")
    shown = client.get("/dashboard/report")
    assert shown.status_code == 200 and shown.text == "<html>report</html>"


def test_dashboard_is_a_page_from_the_first_start(client):
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # earlier tests sent traffic: figures, or the page saying they are being computed
    shown = ("No traffic yet", "Preparing the dashboard", "Per model version and variant")
    assert any(text in page.text for text in shown), page.text[:500]


BAD = [
    (b"", 400, "empty body"),
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 422, "RecommendRequest"),
    (json.dumps({"k": 5}).encode(), 422, "user_id: Field required"),
    (
        json.dumps({"user_id": "u1", "k": 0}).encode(),
        422,
        "k: Input should be greater than or equal to 1",
    ),
    (
        json.dumps({"user_id": "u1", "k": 101}).encode(),
        422,
        "k: Input should be less than or equal to 100",
    ),
    (json.dumps({"user_id": "u1", "k": "ten"}).encode(), 422, "k: Input should be a valid integer"),
    (json.dumps({"user_id": "x" * 129}).encode(), 422, "at most 128 characters"),
    (json.dumps({"user_id": ""}).encode(), 422, "at least 1 character"),
    (json.dumps({"user_id": None}).encode(), 422, "user_id"),
    (json.dumps({"user_id": {"a": 1}}).encode(), 422, "user_id"),
    (
        json.dumps({"user_id": "u1", "colour": "red"}).encode(),
        422,
        "colour: Extra inputs are not permitted",
    ),
    (json.dumps({"user_id": "u1", "exclude": "i1"}).encode(), 422, "exclude"),
    (json.dumps({"user_id": "u1", "filters": {"category": []}}).encode(), 422, "filters"),
    (json.dumps({"user_id": "u1\n"}).encode(), 422, "user_id"),
    (b'{"user_id": "' + b"x" * MAX_BODY_BYTES + b'"}', 413, "too large"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD)
def test_bad_input_gets_a_4xx_saying_why(client, body, status, message):
    r = client.post("/recommend", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert r.json()["request_id"] and r.json()["model_version"] == "v1"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/feedback", {"user_id": "u1", "item_id": "i1", "event": "teleport"}),
        ("/feedback", {"user_id": "u1", "item_id": "i1", "event": "rating", "value": "NaN"}),
        ("/feedback", {"user_id": "u1", "event": "click"}),
        ("/similar_items", {"item_id": "i1", "k": -3}),
    ],
)
def test_other_endpoints_refuse_bad_input(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text


def test_wrong_method_is_4xx(client):
    assert client.get("/recommend").status_code == 405


def test_garbage_input_never_makes_a_5xx(client):
    """Random JSON-ish garbage never crashes the service."""
    import random

    rng = random.Random(0)
    alphabet = ['{', '}', '"user_id"', ':', '"k"', '1', '-1', '1e9', 'null', '[', ']', ',', '"x"',
                'true', '"filters"', '"exclude"', '"user_features"', '{"a": [1]}', '\\u0000']  # fmt: skip
    for _ in range(150):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        r = client.post("/recommend", content=body.encode())
        assert r.status_code < 500, (body, r.text)


def test_rr_log_lines_on_disk(client, workdir, item_knn):
    marker = "log-check-user"
    client.post("/recommend", json={"user_id": marker, "k": 2})
    client.post("/recommend", json={"user_id": marker, "k": 0})
    client.post("/feedback", json={"user_id": marker, "item_id": "i001", "event": "view"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mine = [x for x in rr_lines(workdir / "var" / "logs") if x.get("user_id") == marker]
        if len(mine) >= 3:
            break
        time.sleep(0.1)
    kinds = sorted((x["kind"], x.get("status")) for x in mine)
    assert kinds == [("feedback", None), ("request", 200), ("request", 422)]


def test_hot_swap_under_load_fails_no_request(
    client, base_url, store_url, popularity, item_knn, small_data
):
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def hammer():
        with httpx.Client(base_url=base_url, timeout=10) as c:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = c.post("/recommend", json={"user_id": f"u{n % 300:03d}", "k": 10})
                    results.append((r.status_code, r.json().get("model_version")))
                except httpx.HTTPError as exc:
                    results.append((0, repr(exc)))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    store = open_store(store_url)
    try:
        for version, model in (("v2", popularity), ("v3", item_knn)):
            time.sleep(0.7)
            publish(model, version, store, items=small_data.items)
        time.sleep(0.7)
    finally:
        stop.set()
        for t in threads:
            t.join()
    statuses = {s for s, _ in results}
    assert statuses == {200}, [r for r in results if r[0] != 200][:5]
    versions = [v for _, v in results]
    assert {"v1", "v2", "v3"} <= set(versions) and len(results) > 100
    assert versions.index("v1") < versions.index("v2") < versions.index("v3")
    # Rollback through the store is picked up the same way.
    store.set_live("v1")
    time.sleep(0.3)
    assert client.post("/recommend", json={"user_id": "u001"}).json()["model_version"] == "v1"
    store.close()


@pytest.mark.redis
def test_redis_store_and_its_outage(tmp_path, item_knn, small_data):
    from tests.store.redis_server import redis_server

    with redis_server(tmp_path) as url:
        store = open_store(url)
        publish(item_knn, "r1", store, items=small_data.items)
        # A budget no busy machine misses: only the outage may turn an answer into a fallback.
        env = {"NBREC_STORE_TIMEOUT_MS": "2000"}
        with (
            running_service(tmp_path, url, env) as base,
            httpx.Client(base_url=base, timeout=10) as c,
        ):
            user = str(item_knn.user_ids_[4])
            ok = until(lambda: c.post("/recommend", json={"user_id": user, "k": 5}).json(),
                       lambda body: body["fallback"] is None)  # fmt: skip
            assert ok["model_version"] == "r1" and ok["fallback"] is None
            redis.Redis.from_url(url).shutdown(nosave=True)
            until(lambda: refused(url), bool)  # the server is gone, not on its way out
            # Every answer reads the user's seen items: the store is needed and down.
            down = c.post("/recommend", json={"user_id": user, "k": 5})
            assert down.status_code == 200 and down.json()["fallback"] == "store_unavailable"
            assert down.json()["items"] == ok["items"]  # the in-process copy of this user's list
            ready = c.get("/readyz")  # degraded, yet ready: a store outage is no full outage
            assert ready.status_code == 200 and ready.json()["degraded"] is True, ready.text
            assert "nbrec_store_up 0.0" in c.get("/metrics").text
            assert c.get("/healthz").status_code == 200


def until(probe, done, timeout: float = 30.0):
    """``probe()``'s first answer that is ``done``, asked every 0.1 s (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not done(answer := probe()):
        assert time.monotonic() < deadline, f"still {answer!r} after {timeout} s"
        time.sleep(0.1)
    return answer


def refused(url: str) -> bool:
    """True once nothing answers at ``url`` (a redis-server that was shut down)."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        return True
    return False
