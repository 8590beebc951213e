"""Analysis against hand-computed statistics, guardrails, verdicts, and the RR-log round trip."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from nbrec.experiments.analysis import (
    DONT_SHIP,
    UNDERPOWERED,
    analyze,
    required_sample_size,
    required_users,
)
from nbrec.experiments.simulator import simulate
from nbrec.experiments.trust import two_way
from nbrec.rrlog.reader import read_rr_logs, write_rr_logs


def frames(clicks: dict[str, list[list[int]]]):
    """Requests/feedback from {variant: [per user: [clicked 0/1 per request]]}."""
    requests, feedback = [], []
    for variant, users in clicks.items():
        for u, user in enumerate(users):
            for r, clicked in enumerate(user):
                rid = f"{variant}-{u}-{r}"
                requests.append({"request_id": rid, "user_id": f"{variant}{u}", "experiment": "exp",
                                 "variant": variant, "n_items": 5, "latency_ms": 10.0, "status": 200,
                                 "fallback": None})  # fmt: skip
                if clicked:
                    feedback.append({"request_id": rid, "event": "click"})
    return pd.DataFrame(requests), pd.DataFrame(feedback, columns=["request_id", "event"])


def test_tests_match_hand_computation():
    rng = np.random.default_rng(0)
    data = {
        "control": [list(rng.random(3) < 0.2) for _ in range(150)],
        "treatment": [list(rng.random(3) < 0.3) for _ in range(150)],
    }
    req, fb = frames(data)
    fb = pd.concat([fb, fb.iloc[:5].assign(event="view")])  # views are not clicks
    report = analyze(two_way(), req, fb)
    comparison = report.comparisons[0]
    # Request CTR as a ratio metric, delta method written as the variance of the linearised
    # per-user residual c - R n (Deng et al. 2018, eq. 3), independent of the sums used inside.
    ratios, variances = [], []
    for arm in ("treatment", "control"):
        c = np.array([sum(u) for u in data[arm]], float)
        n = np.array([len(u) for u in data[arm]], float)
        r = c.sum() / n.sum()
        ratios.append(r)
        variances.append(np.var(c - r * n, ddof=1) / (len(c) * n.mean() ** 2))
    z = (ratios[0] - ratios[1]) / math.sqrt(sum(variances))
    assert comparison["ratio_lift"] == pytest.approx(ratios[0] - ratios[1])
    assert comparison["ratio_p_value"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert "z_p_value" not in comparison  # the request-level z-test is gone
    # Welch on per-user CTR, with the Welch-Satterthwaite degrees of freedom
    a, b = (np.array([np.mean(u) for u in data[v]]) for v in ("control", "treatment"))
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t = (b.mean() - a.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    assert comparison["lift"] == pytest.approx(b.mean() - a.mean())
    assert comparison["p_value"] == pytest.approx(2 * student_t.sf(abs(t), df), rel=1e-9)
    low, high = comparison["lift_ci"]
    assert low < comparison["lift"] < high
    metrics = report.metrics
    assert metrics.loc["control", "ctr"] == pytest.approx(ratios[1])
    assert metrics.loc["control", "users"] == 150


def test_required_sample_size_matches_closed_form():
    p0, mde = 0.10, 0.02
    h = 2 * math.asin(math.sqrt(p0 + mde)) - 2 * math.asin(math.sqrt(p0))  # Cohen's h
    # Var(2 asin sqrt(p_hat)) = 1/n per arm, so the difference has variance 2/n.
    closed = 2 * (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 / h**2
    assert required_sample_size(p0, mde) == math.ceil(closed)
    assert required_sample_size(p0, mde, power=0.9) > required_sample_size(p0, mde)
    # t-test version: ~ 2 (z_a + z_b)^2 sd^2 / mde^2 for large n
    assert required_users(0.3, 0.02) == pytest.approx(2 * 7.849 * 0.09 / 0.0004, rel=0.01)
    with pytest.raises(ValueError, match="must lie in"):
        required_sample_size(0.99, 0.05)


@pytest.mark.parametrize("test", ["sequential", "fixed_horizon"])
def test_underpowered_then_no_effect(population, test):
    exp = two_way("null", mde=0.05, test=test)
    same = population.popular_policy()
    small = simulate(population, exp, {"control": same, "treatment": same}, users=60, seed=1)
    report = analyze(exp, *small)
    assert report.verdict == UNDERPOWERED
    assert ("needed" if test == "fixed_horizon" else "keep running") in report.reasons[0]
    big = simulate(population, exp, {"control": same, "treatment": same}, users=3000, seed=2)
    report = analyze(exp, *big)
    comparison = report.comparisons[0]
    assert comparison["users"] >= comparison["required_users"]
    assert comparison["users"] >= comparison["sequential"]["max_users"]
    # The group-sequential maximum: the fixed-horizon n inflated by 1.11 (default power 0.9, 14 reads).
    ratio = comparison["sequential"]["max_users"] / comparison["required_users"]
    assert 1.05 < ratio < 1.2, ratio
    assert report.verdict == DONT_SHIP and "no effect as large as the MDE" in report.reasons[0]


def test_guardrails_veto_a_better_but_slower_or_emptier_model(population):
    exp = two_way("rails")
    policies = {"control": population.popular_policy(), "treatment": population.taste_policy(1.0)}
    req, fb = simulate(population, exp, policies, users=2000, seed=3)
    assert analyze(exp, req, fb).verdict == "ship"
    slow = req.assign(
        latency_ms=np.where(req["variant"] == "treatment", req["latency_ms"] * 3, req["latency_ms"])
    )
    report = analyze(exp, slow, fb)
    assert report.verdict == DONT_SHIP and "latency p95" in " ".join(report.reasons)
    empty = req.copy()
    treated = empty.index[empty["variant"] == "treatment"][:100]
    empty.loc[treated, "n_items"] = 0
    report = analyze(exp, empty, fb)
    assert report.verdict == DONT_SHIP and "empty answers" in " ".join(report.reasons)


def test_rr_log_round_trip_and_errors(population, tmp_path):
    exp = two_way("logs", holdout=0.1)
    same = population.popular_policy()
    req, fb = simulate(population, exp, {"control": same, "treatment": same, "holdout": same},
                       users=500, requests_per_user=2, seed=4)  # fmt: skip
    write_rr_logs(req, fb, tmp_path, name="a")
    # Another experiment's lines and unrelated feedback in a second file are ignored.
    other = two_way("other")
    write_rr_logs(
        *simulate(population, other, {"control": same, "treatment": same}, users=50), tmp_path, "b"
    )
    got_req, got_fb = read_rr_logs(tmp_path, "logs")
    assert len(got_req) == len(req) and set(got_req["experiment"]) == {"logs"}
    assert (got_req["n_items"] == 10).all()
    assert sorted(got_fb["request_id"]) == sorted(fb["request_id"])
    direct, from_files = (
        analyze(exp, req, fb, bootstrap=False),
        analyze(exp, got_req, got_fb, bootstrap=False),
    )
    assert direct.comparisons[0]["p_value"] == pytest.approx(from_files.comparisons[0]["p_value"])
    with pytest.raises(FileNotFoundError, match="no RR logs"):
        read_rr_logs(tmp_path / "empty")
    with pytest.raises(ValueError, match="no request logged for experiment 'nope'"):
        analyze(two_way("nope"), got_req, got_fb)
