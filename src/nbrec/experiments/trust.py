"""Checks of the framework itself, shared by the tests, the benchmark and the notebook.

``aa_runs``: many A/A experiments (one policy in every variant); a trustworthy analysis finds a
"significant" difference in about ``alpha`` of them. ``power_runs``: many A/B experiments of a
known-better policy at the sample size the power analysis asks for; it should be found in
about ``power`` of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.experiments.analysis import analyze, required_sample_size
from nbrec.experiments.config import Experiment
from nbrec.experiments.simulator import Population, simulate


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
    k: int = 10, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """One row per A/A experiment: Welch p, z-test p, SRM flag (fresh salt and users each run)."""
    exp = two_way("aa", holdout=holdout)
    same = population.popular_policy()
    policies = {"control": same, "treatment": same, "holdout": same}
    rows = []
    for run in range(runs):
        req, fb = simulate(population, exp, policies, users, requests_per_user, k=k,
                           seed=seed + run, salt=f"aa-{seed}-{run}")  # fmt: skip
        report = analyze(exp, req, fb, bootstrap=False)
        c = report.comparisons[0]
        rows.append(
            {"p_value": c["p_value"], "z_p_value": c["z_p_value"], "srm": report.srm["flagged"]}
        )
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
        c = analyze(
            exp, req, fb[fb["request_id"].isin(req["request_id"])], bootstrap=False
        ).comparisons[0]
        hits += bool(c["significant"] and c["lift"] > 0)
    measured = hits / runs
    se = float(np.sqrt(power * (1 - power) / runs))
    return {"baseline_ctr": p0, "treatment_ctr": p1, "users_per_variant": n, "runs": runs,
            "measured_power": measured, "target_power": power, "standard_error": se}  # fmt: skip
