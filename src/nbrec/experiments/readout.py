"""The sequential read-out of one comparison: primary metric and guardrails, day by day.

The primary metric (per-user CTR) and the guardrails (empty answers, errors, mean latency, each
a ratio metric over requests with the delta method) are read once per UTC day of the logs.

- Primary metric: the group-sequential design (``group_sequential``: Lan-DeMets alpha spending)
  decides when the experiment may stop: each day is a look at the information fraction
  ``users / max_users``; the interval is the repeated confidence interval. Beside it, the
  mSPRT's always-valid p-value and confidence sequence (``always_valid``, tau = the MDE).
- Guardrails: the mSPRT alone (``sequential``; tau = each guardrail's tolerated increase): harm
  may show at any moment and has no planned effect to size a design for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from nbrec.experiments import estimators
from nbrec.experiments import group_sequential as gsd
from nbrec.experiments.history import daily_sums
from nbrec.experiments.sequential import always_valid_p, confidence_sequence

DAILY_READS = 14  # the planned maximum sample assumes about this many reads (see max_users)


def _sequence(est: estimators.Estimate, tau: float, alpha: float) -> dict:
    p = always_valid_p(est.diff, est.variance, tau)
    low, high = confidence_sequence(est.diff, est.variance, tau, alpha)
    return {"estimate": float(est.diff[-1]), "p_value": float(p[-1]),
            "ci": [_finite(low[-1]), _finite(high[-1])], "reads": int(len(p)),
            "p_by_read": [float(v) for v in p]}  # fmt: skip


def _finite(value) -> float | None:
    """None for an unbounded end (no variance yet): JSON has no infinity."""
    return float(value) if np.isfinite(value) else None


def guardrail_metrics(requests: pd.DataFrame, rails) -> dict[str, tuple[pd.Series, float]]:
    """Per-request numerators of the guardrails and their tau (the tolerated increase)."""
    latency = requests["latency_ms"].astype(float).fillna(0.0)
    return {
        "empty_rate": ((requests["n_items"].fillna(0) == 0).astype(float), rails.max_empty_rate_increase),
        "error_rate": ((requests["status"].fillna(200) >= 500).astype(float), rails.max_error_rate_increase),
        "latency_mean_ms": (latency, max(0.2 * float(latency.mean()), rails.latency_p95_slack_ms)),
    }  # fmt: skip


def sequential_readout(
    requests: pd.DataFrame, clicked: pd.Series, control: str, treatment: str, mde: float,
    alpha: float, power: float, rails,
) -> dict:  # fmt: skip
    """Always-valid p, confidence sequence and stop rule, for CTR and every guardrail."""
    arms = {v: (requests["variant"] == v).to_numpy() for v in (control, treatment)}
    rails_of = guardrail_metrics(requests, rails)
    numerators = {"ctr": clicked, **{name: values for name, (values, _) in rails_of.items()}}
    sums = {v: daily_sums(requests[m], {k: s[m] for k, s in numerators.items()})
            for v, m in arms.items()}  # fmt: skip
    est = estimators.welch(sums[control]["ctr"], sums[treatment]["ctr"])
    out = {"metric": "per-user CTR", **primary(est, sums[control]["ctr"], sums[treatment]["ctr"],
                                              mde, alpha, power)}  # fmt: skip
    guardrails, harmed = {}, []
    for name, (_, tau) in rails_of.items():
        read = _sequence(estimators.ratio(sums[control][name], sums[treatment][name]), tau, alpha)
        read.pop("p_by_read")
        read["harm"] = bool(read["p_value"] < alpha and read["estimate"] > 0)
        guardrails[name] = read
        if read["harm"]:
            harmed.append(name)
    out["guardrails"] = guardrails
    if harmed:
        out |= {"may_stop": True,
                "why": f"guardrail significantly worse (always-valid): {', '.join(harmed)}"}  # fmt: skip
    return out


def primary(
    est: estimators.Estimate, control: estimators.UserSums, treatment: estimators.UserSums,
    mde: float, alpha: float, power: float,
) -> dict:  # fmt: skip
    """The group-sequential read of the primary metric at every daily read, and the stop rule."""
    n_c, n_t = control.count.astype(float), treatment.count.astype(float)
    users = np.minimum(n_c, n_t)
    # Var(diff) ~ sd^2 (1/n_c + 1/n_t): the per-user sd each read's planned maximum needs.
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.maximum(est.variance, 0.0) / (1 / n_c + 1 / n_t))
    limits = np.array([gsd.max_users(float(v), mde, alpha, power, DAILY_READS)
                       if np.isfinite(v) else 2**31 for v in sd])  # fmt: skip
    mon = gsd.monitor(users, est.diff, est.variance, limits, alpha)
    ci = gsd.repeated_ci(est.diff, est.variance, mon["boundary"])
    looks = mon["boundary"][mon["look"]]
    z = float(mon["z"][-1])
    p = always_valid_p(est.diff, est.variance, mde)
    low, high = confidence_sequence(est.diff, est.variance, mde, alpha)
    out = {
        "design": f"group-sequential, Lan-DeMets alpha spending alpha*t^{gsd.RHO:g} (Kim-DeMets)",
        "estimate": float(est.diff[-1]), "z": z,
        "boundary": float(looks[-1]) if len(looks) else None,
        "information_fraction": float(mon["fraction"][-1]),
        "p_value": float(2 * stats.norm.sf(abs(z))),  # nominal: compare with nominal_alpha
        "nominal_alpha": float(2 * stats.norm.sf(looks[-1])) if len(looks) else 0.0,
        "ci": list(ci), "reads": int(len(users)), "users": int(users[-1]), "max_users": int(limits[-1]),
        "z_by_read": [float(v) for v in mon["z"]],
        "boundary_by_read": [float(v) if np.isfinite(v) else None for v in mon["boundary"]],
        "always_valid": {"test": "mSPRT", "tau": mde, "p_value": float(p[-1]),
                         "ci": [_finite(low[-1]), _finite(high[-1])], "p_by_read": [float(v) for v in p]},
    }  # fmt: skip
    return out | gsd.decision(mon, ci, out["users"], out["max_users"])
