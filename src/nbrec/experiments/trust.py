"""Checks of the framework itself, shared by the tests, the benchmark and the notebook.

``aa_runs``: many A/A experiments (one policy in every variant); a trustworthy analysis finds a
"significant" difference in about ``alpha`` of them. ``power_runs``: many A/B experiments of a
known-better policy at the sample size the power analysis asks for; it should be found in
about ``power`` of them. Both run the full ``analyze`` on the simulator's users (slow, exact).

``aa_peeking``, ``sequential_power`` and ``cuped_check`` run thousands of experiments on
heavy-tailed ``Traffic`` at once (numpy), through the estimators ``analyze`` uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.proportion import proportion_confint

from nbrec.experiments import estimators
from nbrec.experiments.analysis import analyze, required_sample_size, required_users
from nbrec.experiments.config import Experiment
from nbrec.experiments.interleaving import preference_test, team_draft_codes
from nbrec.experiments.sequential import always_valid_p, max_users
from nbrec.experiments.simulator import Population, simulate
from nbrec.experiments.traffic import Traffic, simulate_sums


def two_way(name: str = "exp", holdout: float = 0.0, **settings) -> Experiment:
    """A 50/50 control/treatment experiment."""
    variants = [{"name": "control", "allocation": 0.5}, {"name": "treatment", "allocation": 0.5}]
    return Experiment(name=name, holdout=holdout, variants=variants, **settings)


def with_allocations(design: Experiment, allocations: list[float]) -> Experiment:
    """``design`` with other variant allocations: how an SRM is injected (e.g. 45/55 on 50/50)."""
    variants = [
        v.model_copy(update={"allocation": a})
        for v, a in zip(design.variants, allocations, strict=True)
    ]
    return design.model_copy(update={"variants": variants})


def aa_runs(
    population: Population, runs: int, users: int, requests_per_user: int = 1, holdout: float = 0.0,
    k: int = 10, seed: int = 0, traffic: Traffic | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One row per A/A experiment: Welch p, delta-method ratio p, always-valid p, SRM flag.

    A fresh salt and fresh users each run; the full ``analyze`` on the simulator's users.
    """
    exp = two_way("aa", holdout=holdout)
    same = population.popular_policy()
    policies = {"control": same, "treatment": same, "holdout": same}
    rows = []
    for run in range(runs):
        req, fb = simulate(population, exp, policies, users, requests_per_user, k=k,
                           seed=seed + run, salt=f"aa-{seed}-{run}", traffic=traffic)  # fmt: skip
        report = analyze(exp, req, fb, bootstrap=False)
        c = report.comparisons[0]
        rows.append({"p_value": c["p_value"], "ratio_p_value": c["ratio_p_value"],
                     "sequential_p_value": c["sequential"]["p_value"], "srm": report.srm["flagged"]})  # fmt: skip
    return pd.DataFrame(rows)


def power_runs(
    population: Population, share: float, runs: int, power: float = 0.8, alpha: float = 0.05,
    k: int = 10, seed: int = 0,
) -> dict:  # fmt: skip
    """Measured power against popularity of ``taste_policy(share)`` at the power analysis' n."""
    control, better = population.popular_policy(), population.taste_policy(share)
    p0, p1 = population.expected_ctr(control, k), population.expected_ctr(better, k)
    n = required_sample_size(p0, p1 - p0, alpha=alpha, power=power)
    exp = two_way("ab", alpha=alpha)
    hits = 0
    for run in range(runs):
        # Enough arrivals that both arms reach n, then stop each arm at its first n users: the
        # experiment runs until the smaller arm has the sample size the power analysis asked for.
        req, fb = simulate(population, exp, {"control": control, "treatment": better},
                           users=int(2.2 * n) + 50, k=k, seed=seed + run, salt=f"ab-{seed}-{run}")  # fmt: skip
        first = req.drop_duplicates("user_id").groupby("variant").head(n)["user_id"]
        req = req[req["user_id"].isin(first)]
        kept = fb[fb["request_id"].isin(req["request_id"])]
        c = analyze(exp, req, kept, bootstrap=False, sequential=False).comparisons[0]
        hits += bool(c["significant"] and c["lift"] > 0)
    measured = hits / runs
    se = float(np.sqrt(power * (1 - power) / runs))
    return {"baseline_ctr": p0, "treatment_ctr": p1, "users_per_variant": n, "runs": runs,
            "measured_power": measured, "target_power": power, "standard_error": se}  # fmt: skip


# -- peeking, sequential tests and CUPED on heavy-tailed traffic (vectorised over runs) -------


def rate(hits: np.ndarray) -> dict:
    """Share of runs with a hit, with its Wilson 95% interval."""
    n, k = int(np.size(hits)), int(np.sum(hits))
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return {"rate": k / n, "ci": [float(low), float(high)], "runs": n}


def aa_peeking(
    traffic: Traffic, runs: int, users: int, peeks: int, alpha: float = 0.05, mde: float = 0.01,
    seed: int = 0,
) -> dict:  # fmt: skip
    """A/A experiments read at ``peeks`` equally spaced days: false-positive rates.

    ``naive``: the fixed-horizon Welch test read at every peek, stopping at the first p < alpha.
    ``sequential``: the always-valid mSPRT p-value (tau = ``mde``) read the same way.
    ``fixed_horizon``: each p-value the analysis reports, read once at the end.
    """
    control, treatment = simulate_sums(traffic, runs, users, peeks, seed=seed)
    plain = estimators.welch(control, treatment)
    always = always_valid_p(plain.diff, plain.variance, mde)
    cuped, reduction = estimators.cuped(control, treatment)
    final = {
        "welch": plain.p_value[:, -1],
        "ratio_delta": estimators.ratio(control, treatment).p_value[:, -1],
        "cuped": cuped.p_value[:, -1],
        "request_z_test (dropped)": estimators.request_z_test(control, treatment).p_value[:, -1],
    }
    return {
        "runs": runs, "users": users, "peeks": peeks, "alpha": alpha, "mde": mde,
        "naive": rate((plain.p_value < alpha).any(axis=1)),
        "sequential": rate(always[:, -1] < alpha),
        "fixed_horizon": {name: rate(p < alpha) for name, p in final.items()},
        "cuped_variance_reduction": float(np.mean(reduction[:, -1])),
    }  # fmt: skip


def effect(traffic: Traffic, lift: float) -> tuple[float, float]:
    """(true difference of mean per-user CTR, per-user CTR sd), exactly (numerical integration).

    A user's CTR is Binomial(n, p') / n with p' = min(p (1 + lift), 1), p ~ Beta, n capped Zipf:
    E = E[p'], Var = Var(p') + E[p'(1 - p')] E[1/n]. The sd is the two arms' pooled one.
    """
    beta = stats.beta(traffic.ctr_a, traffic.ctr_b)
    cdf = np.append(traffic.requests_cdf(), 1.0)
    inv_n = float(np.sum(np.diff(cdf, prepend=0.0) / np.arange(1, traffic.max_requests + 1)))

    def moments(scale: float) -> tuple[float, float]:
        m1 = beta.expect(lambda p: np.minimum(p * scale, 1.0))
        m2 = beta.expect(lambda p: np.minimum(p * scale, 1.0) ** 2)
        return m1, m2 - m1**2 + (m1 - m2) * inv_n

    (mean_a, var_a), (mean_b, var_b) = moments(1.0), moments(1.0 + lift)
    return float(mean_b - mean_a), float(np.sqrt((var_a + var_b) / 2))


def sequential_power(
    traffic: Traffic, lift: float, runs: int, peeks: int = 14, planned_lift: float | None = None,
    alpha: float = 0.05, power: float = 0.8, seed: int = 0,
) -> dict:  # fmt: skip
    """A known-better treatment (click rates x ``1 + lift``) under the mSPRT read daily.

    The experiment is planned for ``planned_lift`` (default ``lift``): tau = its CTR difference
    and the maximum sample is ``max_users`` for ``power`` there. Reported: power by the maximum
    sample, mean users per arm when the test stops (first always-valid p < alpha, else the
    maximum), and the fixed-horizon n for the same power at the planned and at the true effect,
    with the fixed-horizon Welch test's power measured at its n.
    """
    diff, sd = effect(traffic, lift)
    # The plan knows only the planned effect (and its sd), not the true one.
    planned, sd = (diff, sd) if planned_lift is None else effect(traffic, planned_lift)
    n_max = max_users(sd, planned, alpha, power, looks=peeks)
    control, treatment = simulate_sums(traffic, runs, 2 * n_max, peeks, lift, seed=seed + 1)
    est = estimators.welch(control, treatment)
    always = always_valid_p(est.diff, est.variance, planned)
    stop = always < alpha
    stopped = stop.any(axis=1)
    first = np.where(stopped, stop.argmax(axis=1), peeks - 1)
    arm_users = (control.count + treatment.count) / 2
    users_at_stop = np.take_along_axis(arm_users, first[:, None], axis=1)[:, 0]
    n_fixed = required_users(sd, planned, alpha, power)
    fixed_c, fixed_t = simulate_sums(traffic, runs, 2 * n_fixed, 1, lift, seed=seed + 2)
    fixed = estimators.welch(fixed_c, fixed_t)
    won = stopped & (np.take_along_axis(est.diff, first[:, None], axis=1)[:, 0] > 0)
    return {
        "lift": lift, "planned_lift": planned_lift or lift, "ctr_difference": diff, "sd": sd,
        "runs": runs, "peeks": peeks, "max_users_per_arm": n_max,
        "sequential_power": rate(won),
        "mean_users_at_stop": float(users_at_stop.mean()),
        "fixed_users_per_arm": n_fixed,
        "fixed_users_at_true_effect": required_users(sd, diff, alpha, power),
        "fixed_power": rate((fixed.p_value[:, 0] < alpha) & (fixed.diff[:, 0] > 0)),
        "users_ratio": float(users_at_stop.mean() / n_fixed),
    }  # fmt: skip


def cuped_check(traffic: Traffic, lift: float, runs: int, users: int, seed: int = 0) -> dict:
    """Variance of the effect estimate across runs, plain vs CUPED, and the pre/in correlation."""
    control, treatment = simulate_sums(traffic, runs, users, 1, lift, seed=seed)
    plain = estimators.welch(control, treatment)
    adjusted, reduction = estimators.cuped(control, treatment)
    draw = traffic.draw(np.random.default_rng(seed), 200_000)
    x = draw["pre_clicks"] / np.maximum(draw["pre_requests"], 1)
    correlation = np.corrcoef(x, draw["clicks"] / draw["requests"])[0, 1]
    return {
        "lift": lift, "runs": runs, "users": users, "pre_in_correlation": float(correlation),
        "variance_plain": float(plain.diff.var()), "variance_cuped": float(adjusted.diff.var()),
        "measured_variance_reduction": float(1 - adjusted.diff.var() / plain.diff.var()),
        "reported_variance_reduction": float(reduction.mean()),
        "power_plain": rate(plain.p_value[:, 0] < 0.05), "power_cuped": rate(adjusted.p_value[:, 0] < 0.05),
    }  # fmt: skip


# -- interleaving vs A/B on two rankers ------------------------------------------------------


def _ranker_users(
    population: Population, ranked: tuple[np.ndarray, np.ndarray], traffic: Traffic, users: int,
    k: int, rng: np.random.Generator,
) -> dict:  # fmt: skip
    """``users`` users (population rows, requests, activity) answered by both designs.

    A user clicks a shown item with probability ``activity * P(click | liked or not)``, with
    ``activity`` ~ Beta(ctr_a, ctr_b) / its mean: users differ in how much they click, as in
    ``Traffic``. Returns per-user CTR under ranker a and under b (A/B) and the per-user
    interleaving preference, from the same users.
    """
    rows = rng.integers(0, len(population.user_ids), users)
    n_req = traffic.draw(rng, users)["requests"]
    activity = (
        rng.beta(traffic.ctr_a, traffic.ctr_b, users)
        * (traffic.ctr_a + traffic.ctr_b)
        / traffic.ctr_a
    )
    req_user = np.repeat(np.arange(users), n_req)

    def clicks(shown: np.ndarray) -> np.ndarray:
        p = population.click_probability(rows[req_user], np.maximum(shown, 0))
        p = np.minimum(p * activity[req_user, None], 1.0) * (shown >= 0)
        return rng.random(shown.shape) < p

    ctr = []
    for lists in ranked:
        clicked = clicks(lists[rows[req_user], :k]).any(axis=1)
        ctr.append(np.bincount(req_user, weights=clicked, minlength=users) / n_req)
    a, b = (lists[rows[req_user]] for lists in ranked)
    items, team = team_draft_codes(a, b, k, rng.random((len(req_user), k)) < 0.5)
    hit = clicks(items)
    wins_a, wins_b = (hit & (team == 0)).sum(axis=1), (hit & (team == 1)).sum(axis=1)
    pref = np.bincount(req_user, weights=np.sign(wins_b - wins_a), minlength=users) / n_req
    return {"ctr_a": ctr[0], "ctr_b": ctr[1], "preference": pref}


def interleaving_vs_ab(
    population: Population, ranked: tuple[np.ndarray, np.ndarray], traffic: Traffic,
    users: int = 20_000, runs: int = 200, k: int = 10, alpha: float = 0.05, power: float = 0.8,
    seed: int = 0,
) -> dict:  # fmt: skip
    """Users for ``power``: A/B on per-user CTR (both arms) vs interleaving (every user).

    ``ranked``: each ranker's ranked item codes per population user (rows x >= k). Moments come
    from ``users`` simulated users; the interleaving n is then checked over ``runs`` experiments.
    """
    rng = np.random.default_rng(seed)
    sim = _ranker_users(population, ranked, traffic, users, k, rng)
    diff = float(sim["ctr_b"].mean() - sim["ctr_a"].mean())
    sd = float(np.sqrt((sim["ctr_a"].var() + sim["ctr_b"].var()) / 2))
    ab_per_arm = required_users(sd, abs(diff), alpha, power)
    mu, sigma = float(sim["preference"].mean()), float(sim["preference"].std(ddof=1))
    il_users = int(
        np.ceil(TTestPower().solve_power(effect_size=abs(mu) / sigma, alpha=alpha, power=power))
    )
    found = []
    for _run in range(runs):
        pref = _ranker_users(population, ranked, traffic, il_users, k, rng)["preference"]
        result = preference_test(pref)
        found.append(result.t_p_value < alpha and np.sign(result.mean_preference) == np.sign(mu))
    return {
        "ctr_a": float(sim["ctr_a"].mean()), "ctr_b": float(sim["ctr_b"].mean()), "ctr_sd": sd,
        "ab_users_per_arm": ab_per_arm, "ab_users": 2 * ab_per_arm,
        "mean_preference": mu, "preference_sd": sigma, "interleaving_users": il_users,
        "interleaving_power": rate(np.array(found)), "ratio": 2 * ab_per_arm / il_users,
    }  # fmt: skip
