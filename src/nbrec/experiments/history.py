"""From RR-log rows to what the statistics read: per-user sums by day, and CUPED covariates.

``daily_sums``: for each UTC day of an experiment, the sums over the users seen so far of their
requests and clicks so far (``UserSums`` with one entry per day), the history the always-valid
test reads: its p-value is the running minimum over these daily reads, as if someone had looked
every day. Rows without a timestamp (the in-process simulator) make a single read.

``pre_period``: each user's behaviour *before* entering the experiment (CUPED's covariate):
requests and clicked requests they made, in any experiment or none, before their first request
in this one. Taken per user from their own entry time, so it needs no experiment start date and
no treatment can have touched it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.experiments.estimators import UserSums
from nbrec.experiments.online import REWARD_EVENTS


def clicked_requests(requests: pd.DataFrame, feedback: pd.DataFrame) -> pd.Series:
    """1 for requests answered by at least one click (or purchase), else 0."""
    clicks = feedback.loc[feedback["event"].isin(REWARD_EVENTS), "request_id"].unique()
    return requests["request_id"].isin(clicks).astype(int)


def _day(requests: pd.DataFrame) -> pd.Series | None:
    if "ts" not in requests or requests["ts"].isna().all():
        return None
    return pd.to_datetime(requests["ts"], utc=True, format="mixed").dt.floor("D")


def _stack(parts: list[UserSums]) -> UserSums:
    return UserSums(*(np.concatenate([getattr(p, f) for p in parts]) for f in UserSums.__dataclass_fields__))  # fmt: skip


def daily_sums(
    requests: pd.DataFrame, numerators: dict[str, pd.Series], covariate: pd.Series | None = None
) -> dict[str, UserSums]:
    """Per numerator: sums per day (oldest first) over users seen so far of (numerator, requests).

    ``requests`` are one variant's rows; a numerator is a per-request value aligned to them
    (clicked 0/1, an error flag, the latency for a guardrail); ``covariate`` maps user_id -> x.
    Running per-user totals are kept in arrays of one entry per user, so memory stays
    O(users) whatever the number of days.
    """
    user, users = pd.factorize(requests["user_id"])
    day = _day(requests)
    codes = np.zeros(len(requests), int) if day is None else pd.factorize(day, sort=True)[0]
    x = None
    if covariate is not None:
        mean = covariate.mean() if len(covariate) else 0.0
        x = covariate.reindex(users).fillna(mean).to_numpy(float)
    den = np.zeros(len(users))
    nums = {name: np.zeros(len(users)) for name in numerators}
    values = {name: np.asarray(v, float) for name, v in numerators.items()}
    parts: dict[str, list[UserSums]] = {name: [] for name in numerators}
    for code in range(codes.max() + 1 if len(codes) else 0):
        rows = codes == code
        den += np.bincount(user[rows], minlength=len(users))
        seen = den > 0
        for name, total in nums.items():
            total += np.bincount(user[rows], weights=values[name][rows], minlength=len(users))
            parts[name].append(UserSums.of(total[seen], den[seen], None if x is None else x[seen]))
    return {name: _stack(found) for name, found in parts.items()}


def pre_period(all_requests: pd.DataFrame, feedback: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """Per user of ``experiment``: pre_requests, pre_clicks, pre_ctr before their first request in it.

    Empty when the rows carry no timestamps. Users without earlier requests are left out (the
    analysis fills their covariate with the mean, which leaves them unadjusted).
    """
    columns = ["user_id", "pre_requests", "pre_clicks", "pre_ctr"]
    ts = _day(all_requests)
    if ts is None:
        return pd.DataFrame(columns=columns)
    ts = pd.to_datetime(all_requests["ts"], utc=True, format="mixed")
    rows = all_requests.assign(_ts=ts, clicked=clicked_requests(all_requests, feedback))
    inside = rows["experiment"] == experiment
    entry = rows[inside].groupby("user_id")["_ts"].min()
    before = rows[~inside & rows["user_id"].isin(entry.index)]
    before = before[before["_ts"] < before["user_id"].map(entry)]
    if before.empty:
        return pd.DataFrame(columns=columns)
    out = before.groupby("user_id").agg(
        pre_requests=("clicked", "size"), pre_clicks=("clicked", "sum")
    )
    out["pre_ctr"] = out["pre_clicks"] / out["pre_requests"]
    return out.reset_index()
