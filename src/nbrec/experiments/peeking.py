"""Peeking, sequential tests and CUPED on heavy-tailed traffic, vectorised over many experiments.

``aa_peeking``: A/A experiments read at every daily peek: the false-positive rate of a
fixed-horizon test read daily (``naive``), of the experiment's stop rule (``sequential``: the
group-sequential read-out ``readout.primary`` runs on each experiment's daily sums, the very
code ``analyze`` runs on logs) and of the mSPRT beside it. ``sequential_power``: a
known-better variant: power by the maximum sample and users at stopping against the
fixed-horizon n at the same power. ``cuped_check``: CUPED's variance reduction.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from nbrec.experiments import estimators
from nbrec.experiments import group_sequential as gsd
from nbrec.experiments.analysis import required_users
from nbrec.experiments.readout import DAILY_READS, primary
from nbrec.experiments.sequential import always_valid_p
from nbrec.experiments.sequential import max_users as msprt_max_users
from nbrec.experiments.traffic import Traffic, simulate_sums


def rate(hits: np.ndarray) -> dict:
    """Share of runs with a hit, with its Wilson 95% interval."""
    n, k = int(np.size(hits)), int(np.sum(hits))
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return {"rate": k / n, "ci": [float(low), float(high)], "runs": n}


def stop_rule(
    control: estimators.UserSums, treatment: estimators.UserSums, mde: float, alpha: float,
    power: float,
) -> dict:  # fmt: skip
    """The analysis' group-sequential read-out per run (sums shaped (runs, reads)).

    Per run: whether it crossed, the read it stopped at (crossing, else the maximum, else the
    last read), the direction of the crossing and the planned maximum users per arm.
    """
    est = estimators.welch(control, treatment)
    runs, reads = est.diff.shape
    crossed, better, stop_at, limit = (np.zeros(runs, bool), np.zeros(runs, bool),
                                       np.full(runs, reads - 1), np.zeros(runs, int))  # fmt: skip
    for r in range(runs):
        one = estimators.Estimate(est.diff[r], est.variance[r], est.p_value[r])
        c, t = control.take(r, axis=0), treatment.take(r, axis=0)
        read = primary(one, c, t, mde, alpha, power)
        limit[r] = read["max_users"]
        bounds = np.array([np.inf if b is None else b for b in read["boundary_by_read"]])
        hit = np.flatnonzero(np.abs(read["z_by_read"]) >= bounds)
        if len(hit):
            crossed[r], stop_at[r], better[r] = True, hit[0], read["z_by_read"][hit[0]] > 0
        elif read["may_stop"]:  # the maximum was reached: the first read at the maximum
            users = np.minimum(c.count, t.count)
            stop_at[r] = (
                int(np.argmax(users >= read["max_users"]))
                if (users >= read["max_users"]).any()
                else reads - 1
            )
    return {"crossed": crossed, "better": better, "stop_at": stop_at, "max_users": limit}


def planned_mde(traffic: Traffic, users_per_arm: float, alpha: float, power: float) -> float:
    """The MDE for which the design's maximum sample is ``users_per_arm`` (planned to end then)."""
    _, sd = effect(traffic, 0.0)
    ratio = gsd.inflation(alpha, power, DAILY_READS)
    z = stats.norm.isf(alpha / 2) + stats.norm.isf(1 - power)
    return float(sd * z * np.sqrt(2 * ratio / users_per_arm))


def aa_peeking(
    traffic: Traffic, runs: int, users: int, peeks: int, alpha: float = 0.05,
    mde: float | None = None, power: float = 0.8, seed: int = 0,
) -> dict:  # fmt: skip
    """A/A experiments read at ``peeks`` equally spaced days: false-positive rates.

    ``naive``: the fixed-horizon Welch test read at every peek, stopping at the first p < alpha.
    ``sequential``: the analysis' stop rule (group-sequential, planned for ``mde``; by default
    the MDE whose maximum sample is ``users`` / 2 per arm: the experiment is planned to end at
    the last peek). ``msprt``: the always-valid mSPRT p-value (tau = ``mde``) read the same way.
    ``fixed_horizon``: each p-value the analysis reports, read once at the end.
    """
    # Planned to end at the last peek: its maximum 3% below the users expected per arm by then.
    mde = planned_mde(traffic, users / 2 / 1.03, alpha, power) if mde is None else mde
    control, treatment = simulate_sums(traffic, runs, users, peeks, seed=seed)
    plain = estimators.welch(control, treatment)
    always = always_valid_p(plain.diff, plain.variance, mde)
    rule = stop_rule(control, treatment, mde, alpha, power)
    cuped, reduction = estimators.cuped(control, treatment)
    final = {
        "welch": plain.p_value[:, -1],
        "ratio_delta": estimators.ratio(control, treatment).p_value[:, -1],
        "cuped": cuped.p_value[:, -1],
        "request_z_test (dropped)": estimators.request_z_test(control, treatment).p_value[:, -1],
    }
    return {
        "runs": runs, "users": users, "peeks": peeks, "alpha": alpha, "mde": mde, "power": power,
        "max_users_per_arm": float(np.median(rule["max_users"])),
        "naive": rate((plain.p_value < alpha).any(axis=1)),
        "sequential": rate(rule["crossed"]),
        "msprt": rate(always[:, -1] < alpha),
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


def _stops(control, treatment, stop_at: np.ndarray) -> float:
    """Mean users per arm at the read each run stopped."""
    arm = (control.count + treatment.count) / 2
    return float(np.take_along_axis(arm, stop_at[:, None], axis=1).mean())


def sequential_power(
    traffic: Traffic, lift: float, runs: int, peeks: int = 14, planned_lift: float | None = None,
    alpha: float = 0.05, power: float = 0.8, seed: int = 0, msprt: bool = False,
) -> dict:  # fmt: skip
    """A known-better treatment (click rates x ``1 + lift``) under the stop rule read daily.

    The experiment is planned for ``planned_lift`` (default ``lift``) with ``power``: the
    analysis' group-sequential read-out (maximum sample from the sd it estimates each day).
    Users arrive over ``peeks`` days, 3% more than the planned maximum (so it is reached by the
    last read). Reported: power (a crossing on the better side), mean users per arm at the
    stop (crossing, else the read reaching the maximum), the fixed-horizon Welch n for the same
    power at the planned effect and its measured power there. ``msprt``: the same for the
    mSPRT (tau = the planned difference, its own maximum sample), for comparison.
    """
    diff, sd = effect(traffic, lift)
    # The plan knows only the planned effect (and its sd), not the true one.
    planned, sd = (diff, sd) if planned_lift is None else effect(traffic, planned_lift)
    n_max = gsd.max_users(sd, planned, alpha, power, looks=peeks)
    control, treatment = simulate_sums(traffic, runs, int(2.06 * n_max), peeks, lift, seed=seed + 1)
    rule = stop_rule(control, treatment, planned, alpha, power)
    users_at_stop = _stops(control, treatment, rule["stop_at"])
    n_fixed = required_users(sd, planned, alpha, power)
    fixed_c, fixed_t = simulate_sums(traffic, runs, 2 * n_fixed, 1, lift, seed=seed + 2)
    fixed = estimators.welch(fixed_c, fixed_t)
    out = {
        "lift": lift, "planned_lift": planned_lift or lift, "ctr_difference": diff, "sd": sd,
        "runs": runs, "peeks": peeks, "target_power": power, "max_users_per_arm": n_max,
        "sequential_power": rate(rule["crossed"] & rule["better"]),
        "mean_users_at_stop": users_at_stop,
        "fixed_users_per_arm": n_fixed,
        "fixed_power": rate((fixed.p_value[:, 0] < alpha) & (fixed.diff[:, 0] > 0)),
        "users_ratio": users_at_stop / n_fixed,
    }  # fmt: skip
    if msprt:
        m_max = msprt_max_users(sd, planned, alpha, power, looks=peeks)
        mc, mt = simulate_sums(traffic, runs, 2 * m_max, peeks, lift, seed=seed + 3)
        est = estimators.welch(mc, mt)
        stop = always_valid_p(est.diff, est.variance, planned) < alpha
        first = np.where(stop.any(axis=1), stop.argmax(axis=1), peeks - 1)
        won = stop.any(axis=1) & (np.take_along_axis(est.diff, first[:, None], axis=1)[:, 0] > 0)
        m_users = _stops(mc, mt, first)
        out["msprt"] = {"max_users_per_arm": m_max, "power": rate(won),
                        "mean_users_at_stop": m_users, "users_ratio": m_users / n_fixed}  # fmt: skip
    return out


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
