"""Product metrics from RR logs (DuckDB) against a hand-computed log, and on synthetic logs."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from nbrec.monitoring import product_metrics
from nbrec.monitoring.fake_logs import DEFAULT_ARMS, Arm, write_fake_logs

DAY0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def request(rid, user, day, items, version, variant, fallback=None, status=200):
    return {"ts": (DAY0 + timedelta(days=day)).isoformat(), "kind": "request", "request_id": rid,
            "user_id": user, "model_version": version, "experiment": "e", "variant": variant,
            "k": 10, "items": items, "scores": [1.0] * len(items), "propensities": None,
            "fallback": fallback, "latency_ms": 2.0, "status": status, "endpoint": "/recommend"}  # fmt: skip


def feedback(rid, user, day, item, event, version, variant):
    return {"ts": (DAY0 + timedelta(days=day, minutes=1)).isoformat(), "kind": "feedback",
            "request_id": rid, "user_id": user, "model_version": version, "experiment": "e",
            "variant": variant, "item_id": item, "event": event, "value": None}  # fmt: skip


def hand_log() -> list[dict]:
    """Users a, b on (v1, A); c, d on (v2, B); the logs end on day 10."""
    A, B = ("v1", "A"), ("v2", "B")
    return [
        request("r1", "a", 0, ["i1", "i2"], *A),
        feedback("r1", "a", 0, "i1", "view", *A),
        feedback("r1", "a", 0, "i1", "click", *A),
        request("r2", "a", 1, ["i2", "i3"], *A),
        request("r3", "a", 7, ["i4"], *A),
        request("r4", "b", 0, ["i1"], *A),
        feedback("r4", "b", 0, "i1", "view", *A),
        request("r5", "c", 0, ["i3"], *B, fallback="cold_start"),
        feedback("r5", "c", 0, "i3", "view", *B),
        feedback("r5", "c", 0, "i3", "click", *B),
        request("r6", "c", 1, ["i5", "i6"], *B),
        request("r8", "c", 10, ["i5"], *B),
        request("e1", "d", 0, [], *B, status=422),  # refused: an error, not an empty answer
        request("r7", "d", 0, [], *B),  # an empty answer
        request("r9", "d", 5, ["i7", "i8"], *B),
    ]


def write(tmp_path, events, name="rr-2026-01-01.jsonl"):
    (tmp_path / name).write_text("".join(json.dumps(e) + "\n" for e in events))
    return tmp_path


def test_summary_matches_the_hand_computed_figures(tmp_path):
    con = product_metrics.open_logs(write(tmp_path, hand_log()))
    got = product_metrics.summary(con, catalog_size=10, churn_days=7).set_index(
        ["model_version", "variant"]
    )
    info = {1 / 3: -math.log2(1 / 3), 2 / 3: -math.log2(2 / 3)}
    expected = {
        ("v1", "A"): dict(requests=4, users=2, ctr=1 / 4, fallback_rate=0, empty_rate=0,
                          error_rate=0, engagement=(3 / 2 + 0 + 0) / 3, retention_d1=1 / 2,
                          retention_d7=1 / 2, churn=1 / 2, coverage=4 / 10,
                          novelty=(2 * info[2 / 3] + 4 * info[1 / 3]) / 6),
        ("v2", "B"): dict(requests=5, users=2, ctr=1 / 5, fallback_rate=1 / 5, empty_rate=1 / 5,
                          error_rate=1 / 6, engagement=(2 / 2 + 0 + 0 + 0) / 4, retention_d1=1 / 2,
                          retention_d7=0, churn=0, coverage=5 / 10, novelty=info[1 / 3]),
    }  # fmt: skip
    for group, figures in expected.items():
        for name, value in figures.items():
            assert got.loc[group, name] == pytest.approx(value), (group, name)


def test_retention_ignores_cohorts_whose_day_n_is_past_the_logs(tmp_path):
    events = [request("r1", "a", 0, ["i1"], "v1", None), request("r2", "b", 9, ["i1"], "v1", None),
              request("r3", "b", 10, ["i1"], "v1", None)]  # fmt: skip
    got = product_metrics.retention(product_metrics.open_logs(write(tmp_path, events)))
    row = got.iloc[0]
    assert row["variant"] == product_metrics.NO_VARIANT
    assert row["cohort_d1"] == 2 and row["retention_d1"] == pytest.approx(1 / 2)
    assert row["cohort_d7"] == 1 and row["retention_d7"] == 0  # b's day 16 is not in the logs


def test_synthetic_logs_show_the_better_arm_and_any_number_of_arms(tmp_path):
    arms = (*DEFAULT_ARMS, Arm("new", "ease-v3", click_prob=0.4, return_prob=0.5))
    write_fake_logs(tmp_path, users=600, days=10, arms=arms, seed=3)
    frame = product_metrics.summary(product_metrics.open_logs(tmp_path)).set_index("variant")
    assert set(frame.index) == {"control", "treatment", "new"}
    assert frame.loc["treatment", "ctr"] > frame.loc["control", "ctr"]
    assert frame.loc["new", "ctr"] > frame.loc["treatment", "ctr"]
    assert frame.loc["treatment", "retention_d1"] > frame.loc["control", "retention_d1"]
    assert frame.loc["treatment", "engagement"] > frame.loc["control", "engagement"]
    assert frame["requests"].sum() == sum(
        1
        for path in tmp_path.glob("rr-*.jsonl")
        for line in path.read_text().splitlines()
        if '"kind": "request"' in line and '"status": 200' in line
    )


def test_missing_logs_say_where_and_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="write_fake_logs"):
        product_metrics.open_logs(tmp_path)


def test_offline_leaderboard_is_matched_to_model_versions(tmp_path):
    board = tmp_path / "leaderboard.json"
    board.write_text(json.dumps([{"model": "popularity", "ndcg@10": 0.1, "coverage": 0.02},
                                 {"model": "lightfm", "ndcg@10": 0.2, "coverage": 0.3}]))  # fmt: skip
    online = pd.DataFrame({"model_version": ["popularity-20260101", "lightfm-v2", "mystery-1"],
                           "variant": ["a", "b", "c"], "ctr": [0.1, 0.2, 0.3]})  # fmt: skip
    both = product_metrics.offline_vs_online(
        online, product_metrics.read_leaderboard(board)
    ).set_index("variant")
    assert both.loc["a", "offline_ndcg@10"] == 0.1 and both.loc["b", "offline_coverage"] == 0.3
    assert pd.isna(both.loc["c", "offline_ndcg@10"])
    registry = {"mystery-1": "lightfm"}  # pipeline versions are hashes: the registry knows
    both = product_metrics.offline_vs_online(
        online, product_metrics.read_leaderboard(board), registry
    )
    assert both.set_index("variant").loc["c", "offline_ndcg@10"] == 0.2
    assert product_metrics.read_leaderboard(tmp_path / "missing.json").empty
    assert product_metrics.offline_vs_online(online, product_metrics.read_leaderboard("")).equals(
        online.assign(model=None)
    )


def test_coverage_and_novelty_agree_with_the_offline_metrics(tmp_path):
    # The report computes them in DuckDB; the leaderboard's pandas functions are the reference.
    from nbrec.evaluation.metrics import catalog_coverage, novelty

    write_fake_logs(tmp_path, users=200, items=400, days=5, seed=8)
    con = product_metrics.open_logs(tmp_path)
    got = product_metrics.coverage_novelty(con, catalog_size=400).set_index("variant")
    served = con.sql("SELECT variant, unnest(items) AS item_id FROM requests").df()
    fb = con.sql("SELECT DISTINCT user_id, item_id FROM feedback").df()
    for variant, group in served.groupby("variant"):
        assert got.loc[variant, "coverage"] == pytest.approx(catalog_coverage(group, 400))
        assert got.loc[variant, "novelty"] == pytest.approx(novelty(group, fb))
    assert (got["coverage"] < 1).all()  # 400 items: the lists do not cover the catalogue
