"""The always-valid read-out of one comparison: primary metric and guardrails, day by day.

The primary metric (per-user CTR) and the guardrails (empty answers, errors, mean latency, each
a ratio metric over requests with the delta method) are read once per UTC day of the logs; the
mSPRT p-value is the running minimum over these reads and the confidence sequence their
intersection, so the figures are valid whenever the read-out is looked at. ``tau`` is the MDE
for the primary metric and each guardrail's tolerated increase for the guardrails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.experiments import estimators
from nbrec.experiments.history import daily_sums
from nbrec.experiments.sequential import (
    always_valid_p,
    confidence_sequence,
    decision,
    max_users,
)

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
    out = {"metric": "per-user CTR", "tau": mde, **_sequence(est, mde, alpha)}
    n_c, n_t = float(sums[control]["ctr"].count[-1]), float(sums[treatment]["ctr"].count[-1])
    # Var(diff) ~ sd^2 (1/n_c + 1/n_t): the per-user sd the planned maximum sample needs.
    sd = float(np.sqrt(max(est.variance[-1], 0.0) / (1 / n_c + 1 / n_t)))
    limit = max_users(sd, mde, alpha, power, looks=DAILY_READS)
    out |= {"users": int(min(n_c, n_t)), "max_users": limit}
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
    else:
        out |= decision(out["p_value"], *out["ci"], out["users"], limit, alpha)
    return out
