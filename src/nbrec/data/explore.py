"""Descriptive statistics for framing a recommendation problem (used by 01_framing)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL


def item_popularity(interactions: pd.DataFrame) -> pd.DataFrame:
    """Items by number of events, most popular first, with the cumulative share of events."""
    counts = interactions[ITEM_COL].value_counts()
    return pd.DataFrame(
        {
            ITEM_COL: counts.index,
            "events": counts.to_numpy(),
            "rank": np.arange(1, len(counts) + 1),
            "cumulative_share": counts.cumsum().to_numpy() / counts.sum(),
        }
    )


def head_share(interactions: pd.DataFrame, item_share: float = 0.2) -> float:
    """Share of events that go to the most popular ``item_share`` of items (the long tail in one number)."""
    pop = item_popularity(interactions)
    head = max(1, int(round(len(pop) * item_share)))
    return float(pop["cumulative_share"].iloc[head - 1])


def user_activity(interactions: pd.DataFrame) -> pd.Series:
    """Events per user."""
    return interactions.groupby(USER_COL, observed=True).size().rename("events")


def sparsity(interactions: pd.DataFrame) -> float:
    """Share of the user x item matrix that is empty."""
    n_users, n_items = interactions[USER_COL].nunique(), interactions[ITEM_COL].nunique()
    pairs = len(interactions[[USER_COL, ITEM_COL]].drop_duplicates())
    return 1.0 - pairs / max(n_users * n_items, 1)


def cold_start_share(interactions: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Per period, the share of events by users (and on items) never seen in an earlier period.

    This is what a model retrained once per period would meet as cold start.
    """
    period = interactions[TIMESTAMP_COL].dt.tz_convert(None).dt.to_period(freq)
    frame = pd.DataFrame(
        {"period": period, USER_COL: interactions[USER_COL], ITEM_COL: interactions[ITEM_COL]}
    )
    rows = []
    for col in (USER_COL, ITEM_COL):
        first = frame.groupby(col, observed=True)["period"].transform("min")
        rows.append(
            (frame["period"] == first)
            .groupby(frame["period"])
            .mean()
            .rename(f"new_{col.split('_')[0]}_share")
        )
    out = pd.concat(rows, axis=1).reset_index()
    out["period"] = out["period"].dt.start_time
    out["events"] = frame.groupby("period").size().to_numpy()
    return out
