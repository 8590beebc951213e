"""Peeking, sequential tests, CUPED and the delta method on heavy-tailed, heterogeneous traffic.

Traffic: Zipf requests per user capped at 200, Beta(0.5, 2) click rates (``Traffic``).
Hundreds of experiments run at once (numpy) through the estimators ``analyze`` uses; bounds
are the Monte Carlo noise of the run count, so each check can fail both ways.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbrec.experiments import estimators
from nbrec.experiments import group_sequential as gsd
from nbrec.experiments.analysis import SHIP, analyze
from nbrec.experiments.history import pre_period
from nbrec.experiments.sequential import always_valid_p, confidence_sequence, msprt_p_value
from nbrec.experiments.traffic import Traffic, simulate_sums
from nbrec.experiments.trust import aa_peeking, cuped_check, effect, sequential_power, two_way


def test_msprt_matches_the_normal_mixture_formula():
    d, v, tau = 0.03, 1e-4, 0.02
    lam = math.sqrt(v / (v + tau**2)) * math.exp(d**2 * tau**2 / (2 * v * (v + tau**2)))
    assert msprt_p_value(d, v, tau) == pytest.approx(1 / lam)
    # The confidence sequence is exactly the set of theta the test does not reject.
    low, high = confidence_sequence(d, v, tau, 0.05, axis=None)
    for theta, inside in [(low + 1e-6, True), (high - 1e-6, True), (low - 1e-4, False)]:
        assert (msprt_p_value(d - theta, v, tau) >= 0.05) == inside
    # Running minimum / intersection over reads.
    p = always_valid_p([0.0, 0.03, 0.0], [v, v, v], tau)
    assert p[2] == p[1] < 1.0
    assert msprt_p_value(0.0, float("nan"), tau) == 1.0  # no variance yet: no evidence


def test_group_sequential_boundaries_match_published_values():
    """Lan-DeMets boundaries for 5 equally spaced looks, two-sided alpha 0.05 (gsDesign;
    Jennison and Turnbull 2000, ch. 7): O'Brien-Fleming- and Pocock-type spending."""
    t = np.arange(1, 6) / 5

    def obrien_fleming(t, alpha):
        return 4 * (1 - stats.norm.cdf(stats.norm.isf(alpha / 4) / np.sqrt(t)))

    def pocock(t, alpha):
        return alpha * np.log(1 + (np.e - 1) * t)

    assert gsd.boundaries(t, 0.05, spending=obrien_fleming) == pytest.approx(
        [4.877, 3.357, 2.680, 2.290, 2.031], abs=2e-3
    )
    assert gsd.boundaries(t, 0.05, spending=pocock) == pytest.approx(
        [2.438, 2.427, 2.410, 2.397, 2.388], abs=3e-3
    )
    # One look at t = 1 is the fixed-horizon test; unequal, unplanned looks spend what they reach.
    assert gsd.boundaries([1.0], 0.05)[0] == pytest.approx(1.95996, abs=1e-4)
    c = gsd.boundaries([0.1, 0.13, 0.5, 0.52, 1.0], 0.05)
    assert np.all(c > 1.96) and c[0] > c[-1]
    with pytest.raises(ValueError, match="increase strictly"):
        gsd.boundaries([0.5, 0.4], 0.05)


def test_group_sequential_spends_alpha_at_unplanned_irregular_looks():
    """40 random look schedules (3-19 looks at random information fractions, half ending before
    the maximum), 500 null paths each (Brownian motion): the rejection rate is what the
    spending function spent by the last look, alpha t_K^1.5, not more."""
    rng = np.random.default_rng(15)
    observed, expected, paths = 0, 0.0, 500
    for schedule in range(40):
        t = np.sort(rng.uniform(0.02, 1.0, rng.integers(3, 20)))
        t[-1] = 1.0 if schedule % 2 else t[-1]
        c = gsd.boundaries(t, 0.05)
        steps = rng.standard_normal((paths, len(t))) * np.sqrt(np.diff(t, prepend=0.0))
        z = np.cumsum(steps, axis=1) / np.sqrt(t)
        observed += int((np.abs(z) >= c).any(axis=1).sum())
        expected += paths * float(gsd.spent(t[-1], 0.05))
    total = 40 * paths
    assert abs(observed - expected) <= 4 * math.sqrt(expected), (observed, expected, total)


def test_group_sequential_design_alpha_power_and_savings():
    """The numerical operating characteristics: exactly alpha under the null, the target power
    at the MDE, fewer users than the fixed horizon at the MDE and beyond."""
    oc = gsd.operating_characteristics(0.05, 0.8, looks=14)
    assert oc["0x"]["rejects"] == pytest.approx(0.05, abs=1e-4)
    assert oc["1x"]["rejects"] == pytest.approx(0.8, abs=1e-4)
    assert 1.0 < oc["inflation"] < 1.2
    assert oc["1x"]["expected_over_fixed"] < 0.8 and oc["1.5x"]["expected_over_fixed"] < 0.5
    oc9 = gsd.operating_characteristics(0.05, 0.9, looks=14)
    assert oc9["1x"]["expected_over_fixed"] < 0.7  # the goal, met at power 0.9
    assert gsd.max_users(0.3, 0.02) == math.ceil(oc["inflation"] * gsd.fixed_users(0.3, 0.02))


def test_aa_daily_peeks_stop_rule_holds_alpha_naive_does_not():
    """300 A/A experiments of 1,000 users read on 14 days, planned to end at the 14th."""
    aa = aa_peeking(Traffic(), runs=300, users=1000, peeks=14, seed=14)
    # The design spends all of alpha by the last read: near 0.05, not far below it.
    assert 0.015 <= aa["sequential"]["rate"] <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 300), aa
    assert aa["msprt"]["rate"] <= 0.05  # expected ~0.01: Ville's bound is loose
    assert aa["naive"]["ci"][0] > 0.1  # peeking at a fixed-horizon test: several times alpha
    for name in ("welch", "ratio_delta", "cuped"):
        assert 0.02 <= aa["fixed_horizon"][name]["rate"] <= 0.085, (name, aa["fixed_horizon"])
    # Why the request-level z-test was dropped: heavy users' requests are not independent.
    assert aa["fixed_horizon"]["request_z_test (dropped)"]["rate"] > 0.4


@pytest.mark.slow
def test_aa_1000_runs_14_peeks_full_size():
    aa = aa_peeking(Traffic(), runs=1000, users=2000, peeks=14, seed=1000)
    assert aa["sequential"]["ci"][0] <= 0.05 and aa["sequential"]["rate"] <= 0.05 + 0.014, aa
    assert aa["msprt"]["rate"] <= 0.05
    for name in ("welch", "ratio_delta", "cuped"):
        assert 0.035 <= aa["fixed_horizon"][name]["rate"] <= 0.065, (name, aa["fixed_horizon"])


def test_sequential_p_values_are_uniform_enough_under_the_null():
    """Final always-valid p-values are super-uniform: P(p <= a) <= a for every a."""
    control, treatment = simulate_sums(Traffic(), 400, 800, 14, seed=7)
    est = estimators.welch(control, treatment)
    p = always_valid_p(est.diff, est.variance, 0.05)[:, -1]
    for a in (0.05, 0.1, 0.2, 0.5):
        assert np.mean(p <= a) <= a + 2 * math.sqrt(a * (1 - a) / 400)
    # Fixed-horizon Welch p-values on the same traffic are uniform (KS test).
    assert stats.kstest(est.p_value[:, -1], "uniform").pvalue > 0.001


def test_sequential_power_at_the_maximum_sample():
    """A treatment raising click rates by 30%, planned for that effect: power >= 0.8 and on
    average fewer users than the fixed horizon (the mSPRT, for comparison, needs more)."""
    result = sequential_power(Traffic(), lift=0.3, runs=200, seed=11, msprt=True)
    power = result["sequential_power"]
    assert power["rate"] >= 0.8 - 3 * math.sqrt(0.16 / 200), result
    assert result["mean_users_at_stop"] < 0.9 * result["fixed_users_per_arm"], result
    assert result["msprt"]["users_ratio"] > result["users_ratio"]
    # Fixed-horizon Welch at its own n reaches its planned power too (the reference).
    assert abs(result["fixed_power"]["rate"] - 0.8) <= 3 * math.sqrt(0.16 / 200), result
    assert result["max_users_per_arm"] == gsd.max_users(result["sd"], result["ctr_difference"])


def test_effect_is_exact():
    diff, sd = effect(Traffic(), 0.2)
    rng = np.random.default_rng(1)
    base, treated = Traffic().draw(rng, 400_000), Traffic().draw(rng, 400_000, 0.2)
    a, b = base["clicks"] / base["requests"], treated["clicks"] / treated["requests"]
    assert b.mean() - a.mean() == pytest.approx(diff, abs=4 * sd * math.sqrt(2 / 400_000))
    assert math.sqrt((a.var() + b.var()) / 2) == pytest.approx(sd, rel=0.01)  # pooled sd


def test_cuped_reduces_variance_at_correlation_06():
    result = cuped_check(Traffic(), lift=0.1, runs=300, users=2000, seed=3)
    assert 0.55 <= result["pre_in_correlation"] <= 0.65
    assert result["measured_variance_reduction"] >= 0.3, result
    # What the analysis reports matches what happens across runs.
    assert result["reported_variance_reduction"] == pytest.approx(
        result["measured_variance_reduction"], abs=0.1
    )


def test_cuped_hand_computed():
    rng = np.random.default_rng(4)
    n = 500
    x = rng.random(2 * n)
    req = rng.integers(1, 5, 2 * n)
    clicks = rng.binomial(req, np.clip(0.5 * x + 0.1, 0, 1))
    arm = np.repeat([0, 1], n)
    sums = [estimators.UserSums.of(clicks[arm == a], req[arm == a], x[arm == a]) for a in (0, 1)]
    est, reduction = estimators.cuped(*sums)
    y = clicks / req
    theta = np.cov(x, y)[0, 1] / np.var(x, ddof=1)
    adj = y - theta * x
    welch = stats.ttest_ind(adj[arm == 1], adj[arm == 0], equal_var=False)
    assert est.p_value[0] == pytest.approx(welch.pvalue, rel=1e-9)
    plain = y[arm == 1].var(ddof=1) / n + y[arm == 0].var(ddof=1) / n
    assert reduction[0] == pytest.approx(1 - est.variance[0] / plain)


def _logs(seed: int, users: int = 1500, lift: float = 0.0):
    """RR rows over 4 days: 2 pre-period days outside any experiment, then 2 experiment days."""
    rng = np.random.default_rng(seed)
    draw = Traffic(max_requests=20).draw(rng, users)
    rate = (draw["clicks"] + draw["pre_clicks"] + 1) / (draw["requests"] + draw["pre_requests"] + 2)
    rows, feedback = [], []
    days = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.arange(4), "D")
    for u in range(users):
        variant = "treatment" if u % 2 else "control"
        for day in range(4):
            inside = day >= 2
            n = int(rng.integers(1, 4))
            p = min(rate[u] * (1 + lift if inside and variant == "treatment" else 1), 1.0)
            for r in range(n):
                rid = f"{u}-{day}-{r}"
                rows.append({"kind": "request", "ts": days[day] + pd.Timedelta(hours=r), "request_id": rid,
                             "user_id": f"u{u}", "experiment": "cuped" if inside else None,
                             "variant": variant if inside else None, "n_items": 10,
                             "latency_ms": 5.0, "status": 200, "fallback": None})  # fmt: skip
                if rng.random() < p:
                    feedback.append({"kind": "feedback", "request_id": rid, "event": "click"})
    return pd.DataFrame(rows), pd.DataFrame(feedback)


def test_cuped_and_daily_reads_from_logs():
    requests, feedback = _logs(5, lift=0.5)
    pre = pre_period(requests, feedback, "cuped")
    assert len(pre) == 1500 and (pre["pre_requests"] >= 2).all()  # two pre days, >= 1 a day
    u0 = requests[(requests["user_id"] == "u0") & requests["experiment"].isna()]
    assert pre.set_index("user_id").loc["u0", "pre_requests"] == len(u0)
    report = analyze(two_way("cuped", mde=0.05), requests, feedback, covariates=pre)
    c = report.comparisons[0]
    assert c["cuped"]["variance_reduction"] > 0.2 and c["cuped"]["users_with_pre_period"] == 1500
    assert c["cuped"]["p_value"] < c["p_value"]  # same effect, less noise
    seq = c["sequential"]
    p = seq["always_valid"]["p_by_read"]
    assert seq["reads"] == 2 and p[1] <= p[0] and len(seq["z_by_read"]) == 2
    assert report.verdict == SHIP and seq["may_stop"], report.reasons


def test_cli_aa_json_and_analyze_from_logs(tmp_path):
    """`nbrec experiment aa --format json` (the small version CI runs) and `analyze` on logs."""
    import json

    from typer.testing import CliRunner

    from nbrec.cli import app
    from nbrec.rrlog.reader import write_rr_logs

    runner = CliRunner()
    result = runner.invoke(app, ["experiment", "aa", "--runs", "200", "--peeks", "14", "--users",
                                 "1000", "--mde", "0.05", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["sequential_fpr"] <= 0.05 and out["naive_fpr"] > out["sequential_fpr"]
    assert out["msprt_fpr"] <= 0.05 and out["mde"] == 0.05
    low, high = out["sequential_fpr_ci"]
    assert low <= out["sequential_fpr"] <= high and 0 < high < 0.1
    assert out["naive_fpr_ci"][0] > 0.05  # peeking at a fixed-horizon test: many false alarms
    bad = runner.invoke(app, ["experiment", "aa", "--runs", "20", "--format", "xml"])
    assert bad.exit_code != 0 and "--format must be table or json" in bad.output
    # analyze: the pre-period lines of the log become CUPED's covariate.
    requests, feedback = _logs(6, users=400, lift=0.5)
    lines = requests.assign(ts=requests["ts"].astype(str), items=[["i1"] * 10] * len(requests))
    write_rr_logs(lines.astype(object).where(lines.notna(), None), feedback, tmp_path / "logs")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "cuped.yaml").write_text(
        "name: cuped\nmde: 0.05\nvariants:\n  - {name: control, allocation: 0.5}\n"
        "  - {name: treatment, allocation: 0.5}\n"
    )
    args = ["experiment", "analyze", "cuped", "--log-dir", str(tmp_path / "logs"), "--dir",
            str(tmp_path / "exp")]  # fmt: skip
    report = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    comparison = report["comparisons"][0]
    assert comparison["cuped"]["users_with_pre_period"] == 400
    assert comparison["sequential"]["reads"] == 2
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "sequential (group-sequential" in table.output and "CUPED" in table.output
    assert "always-valid mSPRT" in table.output
    assert "fixed horizon" in table.output and "z-test" not in table.output
    # The dashboard's table: one row per treatment, with the stop rule.
    from nbrec.experiments.status import sequential_status

    status = sequential_status(tmp_path / "logs", tmp_path / "exp")
    assert status[["experiment", "treatment"]].values.tolist() == [["cuped", "treatment"]]
    seq = comparison["sequential"]
    assert status.loc[0, "always_valid_p"] == pytest.approx(seq["always_valid"]["p_value"])
    assert (
        status.loc[0, "z"] == pytest.approx(seq["z"])
        and status.loc[0, "may_stop"] == seq["may_stop"]
    )
    assert sequential_status(tmp_path / "logs", tmp_path / "none").empty
