"""Trust the framework itself: A/A false positives, A/B power, SRM, with simulated users.

The simulator's ground truth gives every policy's exact expected CTR, so each check has a known
right answer. Fixed seeds keep the runs reproducible; bounds are the issue's (A/A) or three
standard errors of the Monte Carlo estimate (power), so they can fail both ways.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbrec.experiments.analysis import DONT_SHIP, SHIP, analyze, srm_check
from nbrec.experiments.simulator import simulate
from nbrec.experiments.trust import aa_runs, power_runs, two_way, with_allocations


def test_aa_false_positive_rate_is_alpha(population):
    """200 A/A experiments, 600 users with 3 requests each: the verdict's test fires ~5% of the time."""
    runs = aa_runs(population, runs=200, users=600, requests_per_user=3)
    assert 0.02 <= np.mean(runs["p_value"] < 0.05) <= 0.08
    assert 0.02 <= np.mean(runs["ratio_p_value"] < 0.05) <= 0.08  # delta method, request CTR
    assert np.mean(runs["msprt_p_value"] < 0.05) <= 0.05  # always-valid
    # The stop rule read once, below its maximum sample: spends alpha * t^1.5 < alpha.
    assert np.mean(runs["sequential_crossed"]) <= 0.05
    assert runs["srm"].sum() <= 2  # SRM alarm at 0.001: expected 0.2 false alarms in 200 runs
    # p-values of a true null are uniform: no decile holds more than twice its share.
    assert np.histogram(runs["p_value"], bins=10, range=(0, 1))[0].max() <= 40


@pytest.mark.slow
def test_aa_false_positive_rate_1000_runs_with_holdout(population):
    runs = aa_runs(population, runs=1000, users=2000, requests_per_user=4, holdout=0.1, seed=10_000)
    assert 0.035 <= np.mean(runs["p_value"] < 0.05) <= 0.065  # +-2.2 standard errors at 1000 runs
    assert runs["srm"].sum() <= 5


def test_ab_power_matches_the_power_analysis(population):
    """A known-better policy (30% of slots from the user's taste) is found with power ~0.8."""
    result = power_runs(population, share=0.3, runs=200)
    power, n = result["measured_power"], result["users_per_variant"]
    tolerance = 3 * result["standard_error"]
    assert n > 100  # a real experiment, not a trivially easy one
    assert power >= 0.8 - tolerance, f"power {power:.3f} at n={n} per variant"
    assert power <= 0.8 + tolerance, (
        f"power {power:.3f}: the power analysis asks for too many users"
    )


@pytest.mark.slow
def test_ab_power_small_effect_500_runs(population):
    result = power_runs(population, share=0.1, runs=500, seed=10_000)
    assert result["users_per_variant"] > 1000
    assert abs(result["measured_power"] - 0.8) <= 3 * result["standard_error"], result


def test_srm_flags_an_injected_45_55_split(population):
    design = two_way("srm")
    skewed = with_allocations(design, [0.45, 0.55])
    same = population.popular_policy()
    req, fb = simulate(population, skewed, {"control": same, "treatment": same}, users=3000, seed=3)
    report = analyze(design, req, fb)  # analysed against the 50/50 it was designed as
    assert report.srm["flagged"] and report.srm["p_value"] < 1e-4
    assert report.verdict == DONT_SHIP and "sample ratio mismatch" in report.reasons[0]
    # Hand check of the statistic: chi2 = sum (o - e)^2 / e.
    obs = report.srm["observed"]
    e = sum(obs.values()) / 2
    assert report.srm["chi2"] == pytest.approx(sum((o - e) ** 2 / e for o in obs.values()))


def test_srm_flags_lost_logs_of_one_variant(population):
    """A logging bug dropping 15% of treatment users' lines is an SRM even at a 50/50 design."""
    exp = two_way("lost")
    better = population.taste_policy(1.0)
    req, fb = simulate(population, exp, {"control": population.popular_policy(), "treatment": better},
                       users=6000, seed=4)  # fmt: skip
    treated = req.loc[req["variant"] == "treatment", "user_id"].unique()
    lost = set(treated[: int(0.15 * len(treated))])
    report = analyze(exp, req[~req["user_id"].isin(lost)], fb)
    assert report.srm["flagged"] and report.verdict == DONT_SHIP  # even though treatment is better


def test_srm_quiet_on_exact_design():
    exp = two_way("ok", holdout=0.1)
    assert not srm_check({"control": 450, "treatment": 450, "holdout": 100}, exp)["flagged"]
    assert srm_check({"control": 4500, "treatment": 5500}, two_way("x"))["flagged"]


def test_known_better_model_ships(population):
    exp = two_way("ship")
    policies = {"control": population.popular_policy(), "treatment": population.taste_policy(1.0)}
    req, fb = simulate(population, exp, policies, users=2000, requests_per_user=2, seed=5)
    report = analyze(exp, req, fb)
    assert report.verdict == SHIP
    low, high = report.comparisons[0]["lift_ci"]
    true_lift = population.expected_ctr(policies["treatment"], 10) - population.expected_ctr(
        policies["control"], 10
    )
    assert low < true_lift < high
