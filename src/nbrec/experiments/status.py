"""Every experiment's sequential read-out in one table, for the product dashboard.

One row per (experiment, treatment) with requests in the RR logs: users per arm and the planned
maximum, the lift in per-user CTR, the group-sequential z and boundary with the repeated
confidence interval, the mSPRT's always-valid p beside it, whether the experiment may stop and
why, and the verdict. Experiments without logged requests are left out, and so are
interleaving experiments (no arms to compare: `nbrec experiment analyze NAME` reads them).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nbrec.experiments.analysis import analyze
from nbrec.experiments.config import load_experiments
from nbrec.experiments.history import pre_period
from nbrec.rrlog.reader import read_rr_logs

COLUMNS = ["experiment", "treatment", "users", "max_users", "lift", "z", "boundary", "ci_low",
           "ci_high", "always_valid_p", "may_stop", "why", "verdict"]  # fmt: skip


def sequential_status(log_dir: str | Path, experiments_dir: str | Path) -> pd.DataFrame:
    """The table above; empty (with its columns) when no experiment has logged requests."""
    experiments = load_experiments(experiments_dir)
    if not experiments:
        return pd.DataFrame(columns=COLUMNS)
    requests, feedback = read_rr_logs(log_dir)
    rows = []
    for exp in experiments:
        if exp.type == "interleaving" or not (requests["experiment"] == exp.name).any():
            continue
        report = analyze(exp, requests, feedback, bootstrap=False,
                         covariates=pre_period(requests, feedback, exp.name))  # fmt: skip
        for c in report.comparisons:
            seq = c.get("sequential") or {}
            ci = seq.get("ci", [None, None])
            rows.append({"experiment": exp.name, "treatment": c["treatment"], "users": c.get("users"),
                         "max_users": seq.get("max_users"), "lift": c["lift"], "z": seq.get("z"),
                         "boundary": seq.get("boundary"),
                         "always_valid_p": (seq.get("always_valid") or {}).get("p_value"), "ci_low": ci[0],
                         "ci_high": ci[1], "may_stop": seq.get("may_stop"), "why": seq.get("why"),
                         "verdict": report.verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)
