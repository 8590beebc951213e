"""Checks of the framework itself, shared by the tests, the benchmark and the notebook.

``aa_runs``: many A/A experiments (one policy in every variant); a trustworthy analysis finds a
"significant" difference in about ``alpha`` of them. ``power_runs``: many A/B experiments of a
known-better policy at the sample size the power analysis asks for; it should be found in
about ``power`` of them. Both run the full ``analyze`` on the simulator's users (slow, exact).

``aa_peeking``, ``sequential_power`` and ``cuped_check`` (``peeking``) run thousands of
experiments on heavy-tailed ``Traffic`` at once, through the estimators ``analyze`` uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestPower

from nbrec.experiments.analysis import analyze, required_sample_size, required_users
from nbrec.experiments.config import Experiment
from nbrec.experiments.interleaving import preference_test, team_draft_codes
from nbrec.experiments.peeking import aa_peeking, cuped_check, effect, rate, sequential_power
from nbrec.experiments.simulator import Population, simulate
from nbrec.experiments.traffic import Traffic

__all__ = ["aa_peeking", "aa_runs", "cuped_check", "effect", "interleaving_vs_ab", "power_runs",
           "rate", "sequential_power", "two_way", "with_allocations"]  # fmt: skip


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
    """One row per A/A experiment: Welch p, delta-method p, stop-rule crossing, mSPRT p, SRM flag.

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
        seq = c["sequential"]
        rows.append({"p_value": c["p_value"], "ratio_p_value": c["ratio_p_value"],
                     "sequential_crossed": seq["direction"] is not None,
                     "msprt_p_value": seq["always_valid"]["p_value"], "srm": report.srm["flagged"]})  # fmt: skip
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
