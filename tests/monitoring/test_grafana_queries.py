"""Every Grafana panel's query returns data from a real Prometheus scraping the real service.

The service is started the way users start it (``nbrec serve``, BentoML) on a model published
to a temporary SQLite store, with a pipeline status file; a little traffic (known and unknown
users, bad input, clicks) is sent; Prometheus, configured from deploy/prometheus/prometheus.yml
(rules included), scrapes it every second.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from nbrec.data.synthetic import generate
from nbrec.models import make_model
from nbrec.pipeline.publish import publish
from nbrec.store import open_store
from tests.conftest import ROOT
from tests.monitoring.servers import nbrec_service, prometheus, prometheus_config

pytestmark = pytest.mark.service

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "nbrec.json"
NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
STATUS = {
    "last_run": {"flow_run": "t", "status": "completed", "started_at": NOW, "finished_at": NOW,
                 "version": "popularity-v1", "reason": None},
    "last_success_at": NOW,
    "runs": {"completed": 1, "rejected": 0, "failed": 0},
    "validation": {"interactions": {"success": True, "failed_expectations": [], "report": "r",
                                    "at": NOW}},
}  # fmt: skip


def panel_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(panel["title"], target["expr"]) for panel in panels for target in panel["targets"]]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("observe")
    data = generate(users=200, items=80, interactions=4_000, seed=3)
    store = open_store(f"sqlite:///{home / 'features.db'}")
    model = make_model("popularity").fit(data.interactions, data.items, data.users)
    publish(model, "popularity-v1", store, items=data.items)
    store.close()
    (home / "var" / "status").mkdir(parents=True)
    (home / "var" / "status" / "pipeline.json").write_text(json.dumps(STATUS))
    (home / "users.json").write_text(json.dumps(sorted(map(str, data.users["user_id"]))[:50]))
    return home


@pytest.fixture(scope="module")
def service(home) -> str:
    env = {
        "NBREC_STORE_URL": f"sqlite:///{home / 'features.db'}",
        "NBREC_VAR_DIR": str(home / "var"),
        "NBREC_LOG_DIR": str(home / "logs"),
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    with nbrec_service(home, env) as url:
        yield url


# Every answer is counted (probes and scrapes too, since the hardening); the test sends API calls.
API_REQUESTS = 'sum(nbrec_requests_total{endpoint=~"/recommend|/similar_items|/feedback"})'


def send_traffic(url: str, users: list[str], rounds: int = 1) -> int:
    """Known users, unknown users (fallback), bad input (4xx) and click feedback; return the
    number of API requests sent."""
    sent = 0

    def post(path: str, body: dict) -> httpx.Response:
        nonlocal sent
        sent += 1
        return client.post(path, json=body)

    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(rounds):
            for user in users:
                response = post("/recommend", {"user_id": user, "k": 10})
                assert response.status_code == 200, (response.status_code, response.text[:500])
                answer = response.json()
                if answer["items"]:
                    post("/feedback", {"user_id": user, "event": "click",
                                       "item_id": answer["items"][0]["item_id"],
                                       "request_id": answer["request_id"]})  # fmt: skip
            for n in range(5):
                post("/recommend", {"user_id": f"new-user-{n}", "k": 5})
            assert post("/recommend", {"user_id": "u", "k": 0}).status_code == 422
            post("/similar_items", {"item_id": "no-such-item"})
    return sent


def query(prom: str, expr: str) -> dict:
    return httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()


def test_every_dashboard_panel_returns_data(home, service, tmp_path):
    users = json.loads((home / "users.json").read_text())
    sent = send_traffic(service, users)
    config = prometheus_config(service.removeprefix("http://"), tmp_path / "prometheus.yml")
    with prometheus(config, tmp_path) as prom:
        queries = panel_queries()
        missing = queries
        deadline = time.monotonic() + 90
        while missing and time.monotonic() < deadline:
            sent += send_traffic(
                service, users[:10]
            )  # counters must move between scrapes for rate()
            time.sleep(1)
            answers = {expr: query(prom, expr) for _, expr in missing}
            for expr, answer in answers.items():
                assert answer["status"] == "success", f"{expr}: {answer}"  # parses and runs
            missing = [(t, e) for t, e in missing if not answers[e]["data"]["result"]]
        assert not missing, f"panels without data: {missing}"

        rules = httpx.get(f"{prom}/api/v1/rules", timeout=10).json()["data"]["groups"]
        broken = [r["name"] for g in rules for r in g["rules"] if r.get("health") == "err"]
        assert len(rules) >= 5 and not broken
        live = query(prom, "nbrec_live_model_info")["data"]["result"]
        assert [r["metric"]["model_version"] for r in live] == ["popularity-v1"]
        # Score shift is measured against the scores the version was published with.
        shift = query(prom, "nbrec_score_shift")["data"]["result"]
        assert {r["metric"]["reference"] for r in shift} == {"training"}, shift
        assert query(prom, "up{job='nbrec'}")["data"]["result"][0]["value"][1] == "1"
        deadline, counted = time.monotonic() + 20, None
        while counted != sent and time.monotonic() < deadline:  # until a scrape after the last
            time.sleep(0.5)
            counted = float(query(prom, API_REQUESTS)["data"]["result"][0]["value"][1])
        assert counted == sent  # each API request counted once, in one series


def test_dashboard_json_is_well_formed():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert len(set(titles)) == len(titles)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(titles)
    for wanted in ("Traffic", "Latency", "Errors", "Empty", "Fallback", "Live model version",
                   "CTR per model version and variant"):  # fmt: skip
        assert any(wanted in title for title in titles), wanted
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "nbrec-prometheus"
        assert panel["targets"], panel["title"]


@pytest.mark.notebooks
def test_dashboard_from_the_services_own_logs_is_served(home, service):
    from nbrec.monitoring.dashboard import build_dashboard

    users = json.loads((home / "users.json").read_text())
    send_traffic(service, users[:20])
    deadline = time.monotonic() + 20  # the RR log writer is a background thread
    while not list((home / "logs").glob("rr-*.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    build_dashboard(home / "logs", out_dir=home / "var" / "reports")
    answer = httpx.get(f"{service}/dashboard/report", timeout=10)  # the live page is /dashboard
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.count("<img") >= 5  # the charts; versions are named inside them
    results = json.loads((home / "var" / "reports" / "run" / "results.json").read_text())
    assert "popularity-v1" in json.dumps(results)  # the figures come from the service's logs
