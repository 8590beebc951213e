"""Experiments in the real request path: router + bandit variants, in process and over `nbrec serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from nbrec.data.synthetic import generate
from nbrec.experiments.assignment import ExperimentRouter
from nbrec.experiments.config import Experiment
from nbrec.experiments.hooks import BanditVariants
from nbrec.experiments.online import namespace
from nbrec.models import make_model
from nbrec.pipeline.publish import publish
from nbrec.rrlog.reader import read_rr_logs
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.schemas import FeedbackRequest, RecommendRequest
from nbrec.serving.service import RecommendationService
from nbrec.store import open_store
from tests.serving.server import running_service

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
    service = RecommendationService(
        store, router=router, rr_log=RRLogger(tmp_path / "logs"), refresh_interval=0,
        policies=BanditVariants(router, store, seed=0),
    )  # fmt: skip
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
        fb = service.feedback(FeedbackRequest(user_id=user, item_id=items[0], event="click",
                                              request_id=answer["request_id"]))  # fmt: skip
        assert fb.get("rewarded") is (True if answer["variant"] == "thompson" else None)
    bandit_users = [u for u, (v, _, _) in seen.items() if v == "thompson"]
    assert 70 < len(bandit_users) < 130
    counts = store.counters(namespace("bandit-test", "thompson"))
    assert sum(p for p, _ in counts.values()) == 5 * len(bandit_users)
    assert sum(r for _, r in counts.values()) == len(bandit_users)  # control clicks are not rewards
    service.rr_log.flush()
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
def test_simulate_and_analyze_over_http(tmp_path, monkeypatch):
    """The README walk-through on the real `nbrec serve` (BentoML): a Thompson variant learns
    from `nbrec simulate`'s clicks in the store's counters; `nbrec experiment analyze` reads it."""
    data = generate()  # what `--dataset synthetic` simulates: the default synthetic users
    model = make_model("popularity").fit(data.interactions, data.items, data.users)
    store_url = f"sqlite:///{tmp_path / 'features.db'}"
    store = open_store(store_url)
    publish(model, "v1", store, items=data.items)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "bandit.yaml").write_text(yaml.safe_dump(BANDIT))
    for name, value in {"NBREC_STORE_URL": store_url, "NBREC_LOG_DIR": str(tmp_path / "logs"),
                        "NBREC_EXPERIMENTS_DIR": str(tmp_path / "experiments"),
                        "NBREC_VAR_DIR": str(tmp_path / "var"),
                        "NBREC_DATA_DIR": str(tmp_path / "data")}.items():  # fmt: skip
        monkeypatch.setenv(name, value)  # the service and the CLI runs below inherit them
    bandit = namespace("bandit-test", "thompson")
    with running_service(tmp_path, store_url) as url:
        sim = subprocess.run(
            [str(BIN / "nbrec"), "simulate", "--url", url, "--users", "300", "--requests", "600",
             "--k", "5", "--p-match", "0.2"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stderr[-3000:]
        summary = json.loads(sim.stdout)
        assert summary["requests"] == 600 and summary["errors"] == 0 and summary["clicks"] > 0
        assert set(summary["by_variant"]) == {"control", "thompson"}
        # The bandit learned in the store: a pull per shown item, a reward per click on it.
        counts = store.counters(bandit)
        top = set(store.popular("v1")[0][:20])  # the pool, less what each user already clicked
        assert sum(p for arm, (p, _) in counts.items() if arm in top) > 0.8 * sum(
            p for p, _ in counts.values()
        )
        assert (
            sum(p for p, _ in counts.values()) == 5 * summary["by_variant"]["thompson"]["requests"]
        )
        rewards = sum(r for _, r in counts.values())
        assert 0 < rewards < summary["clicks"]  # control's clicks are no rewards
        router = ExperimentRouter([Experiment.model_validate(BANDIT)])
        thompson_user = next(
            u for u in data.users["user_id"] if router.route(u).variant == "thompson"
        )
        answer = httpx.post(f"{url}/recommend", json={"user_id": thompson_user, "k": 3}).json()
        assert answer["variant"] == "thompson"  # the router in the service agrees
        fb = httpx.post(f"{url}/feedback", json={"user_id": thompson_user, "event": "click",
                                                 "item_id": answer["items"][0]["item_id"],
                                                 "request_id": answer["request_id"]})  # fmt: skip
        assert fb.json()["rewarded"] is True
        assert sum(r for _, r in store.counters(bandit).values()) == rewards + 1
        metrics = httpx.get(f"{url}/metrics").text
        assert (
            'nbrec_recommendations_total{fallback="none",model_version="v1",variant="thompson"}'
            in metrics
        )
    store.close()
    lines = [json.loads(line) for f in (tmp_path / "logs").glob("rr-*.jsonl")
             for line in f.read_text().splitlines()]  # fmt: skip
    served = [ln for ln in lines if ln["kind"] == "request" and ln["variant"] == "thompson"]
    assert served and all(ln["policy"] == "thompson" for ln in served)
    assert all(len(ln["propensities"]) == len(ln["items"]) for ln in served)
    assert all(0 < p <= 1 for ln in served for p in ln["propensities"])
    report = subprocess.run(
        [str(BIN / "nbrec"), "experiment", "analyze", "bandit-test", "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    result = json.loads(report.stdout)
    variants = {row["variant"]: row for row in result["metrics"]}
    assert set(variants) == {"control", "thompson"}
    assert sum(row["requests"] for row in variants.values()) == 601
    assert sum(row["clicked"] for row in variants.values()) == summary["clicked_requests"] + 1
    assert result["verdict"] in {"ship", "don't ship", "keep running: underpowered"}
    assert result["srm"]["p_value"] is not None
    missing = subprocess.run([str(BIN / "nbrec"), "experiment", "analyze", "nope"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "no experiment 'nope'" in missing.stderr
    np.testing.assert_array_less(0, [row["latency_p95"] for row in variants.values()])
