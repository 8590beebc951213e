"""Experiments in the real request path: router + bandit variants, in process and over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from nbrec.data.synthetic import generate
from nbrec.experiments.assignment import ExperimentRouter
from nbrec.experiments.config import Experiment
from nbrec.experiments.logs import read_rr_logs
from nbrec.experiments.online import namespace
from nbrec.experiments.service import ExperimentService
from nbrec.models import make_model
from nbrec.serving.logs import RRLogger
from nbrec.serving.publish import publish
from nbrec.serving.schemas import FeedbackRequest, RecommendRequest
from nbrec.serving.service import RecommendationService
from nbrec.store import open_store
from tests.service.server import free_port

BIN = Path(sys.executable).parent
BANDIT = {
    "name": "bandit-test", "layer": "ranking", "start": "2026-01-01T00:00:00Z", "mde": 0.05,
    "variants": [
        {"name": "control", "allocation": 0.5},
        {"name": "thompson", "allocation": 0.5, "policy": "thompson", "pool_size": 20},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def small():
    data = generate(users=300, items=120, interactions=6_000, seed=7)
    return data, make_model("popularity").fit(data.interactions, data.items, data.users)


def test_bandit_variant_in_process(small, tmp_path):
    data, model = small
    store = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    publish(model, "v1", store, items=data.items)
    router = ExperimentRouter([Experiment.model_validate(BANDIT)])
    core = RecommendationService(
        store, router=router, rr_log=RRLogger(tmp_path / "logs"), refresh_interval=0
    )
    service = ExperimentService(core, router, seed=0)
    pool = set(store.popular("v1")[0][:20])
    seen = {}
    for user in data.users["user_id"][:200]:
        answer = service.recommend(RecommendRequest(user_id=user, k=5))
        assert answer["experiment"] == "bandit-test" and answer["model_version"] == "v1"
        items = [i["item_id"] for i in answer["items"]]
        assert len(items) == 5
        seen[user] = (answer["variant"], items, answer["request_id"])
        if answer["variant"] == "thompson":
            assert set(items) <= pool
        else:
            assert (
                items
                == [i for i in store.user_recs("v1", user)[0] if i not in store.recent_seen(user)][
                    :5
                ]
            )
        service.feedback(FeedbackRequest(user_id=user, item_id=items[0], event="click",
                                         request_id=answer["request_id"]))  # fmt: skip
    bandit_users = [u for u, (v, _, _) in seen.items() if v == "thompson"]
    assert 70 < len(bandit_users) < 130
    counts = store.counters(namespace("bandit-test", "thompson"))
    assert sum(p for p, _ in counts.values()) == 5 * len(bandit_users)
    assert sum(r for _, r in counts.values()) == len(bandit_users)  # control clicks are not rewards
    core.rr_log.flush()
    requests, feedback = read_rr_logs(tmp_path / "logs", "bandit-test")
    assert len(requests) == 200 and len(feedback) == 200
    logged = requests.set_index("request_id")
    for variant, _items, request_id in seen.values():
        assert (
            logged.loc[request_id, "variant"] == variant and logged.loc[request_id, "n_items"] == 5
        )
    lines = [
        json.loads(line)
        for f in (tmp_path / "logs").glob("rr-*.jsonl")
        for line in f.read_text().splitlines()
    ]
    props = [
        line["propensities"]
        for line in lines
        if line["kind"] == "request" and line["variant"] == "thompson"
    ]
    assert len(props) == len(bandit_users) and all(0 < p <= 1 for row in props for p in row)
    assert sum(line["kind"] == "exposure" for line in lines) == 200
    service.close()


@pytest.mark.service
def test_simulate_and_analyze_over_http(small, tmp_path):
    """The README walk-through: publish, serve with experiments, `nbrec simulate`, `nbrec experiment analyze`."""
    data = generate()  # what `--dataset synthetic` simulates: the default synthetic users
    model = make_model("popularity").fit(data.interactions, data.items, data.users)
    store_url = f"sqlite:///{tmp_path / 'features.db'}"
    store = open_store(store_url)
    publish(model, "v1", store, items=data.items)
    store.close()
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "bandit.yaml").write_text(yaml.safe_dump(BANDIT))
    env = {**os.environ, "NBREC_STORE_URL": store_url, "NBREC_LOG_DIR": str(tmp_path / "logs"),
           "NBREC_EXPERIMENTS_DIR": str(tmp_path / "experiments"), "NBREC_VAR_DIR": str(tmp_path / "var"),
           "NBREC_DATA_DIR": str(tmp_path / "data"), "NBREC_REFRESH_INTERVAL": "0.1"}  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "python"), "-m", "uvicorn", "--factory", "nbrec.experiments.service:create_app",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "service not ready in 60 s"
            time.sleep(0.2)
        sim = subprocess.run(
            [str(BIN / "nbrec"), "simulate", "--url", url, "--users", "300", "--requests", "600", "--k", "5",
             "--p-match", "0.2"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stderr[-3000:]
        summary = json.loads(sim.stdout)
        assert summary["requests"] == 600 and summary["errors"] == 0 and summary["clicks"] > 0
        assert set(summary["by_variant"]) == {"control", "thompson"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    report = subprocess.run(
        [str(BIN / "nbrec"), "experiment", "analyze", "bandit-test", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    result = json.loads(report.stdout)
    variants = {row["variant"]: row for row in result["metrics"]}
    assert set(variants) == {"control", "thompson"}
    assert sum(row["requests"] for row in variants.values()) == 600
    assert sum(row["clicked"] for row in variants.values()) == summary["clicked_requests"]
    assert result["verdict"] in {"ship", "don't ship", "keep running: underpowered"}
    assert result["srm"]["p_value"] is not None
    missing = subprocess.run([str(BIN / "nbrec"), "experiment", "analyze", "nope"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "no experiment 'nope'" in missing.stderr
    np.testing.assert_array_less(0, [row["latency_p95"] for row in variants.values()])
