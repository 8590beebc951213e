"""Plots the notebooks share, so notebooks stay free of function definitions."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def long_tail(popularity: pd.DataFrame, ax=None):
    """Events per item by popularity rank (log-log) and the cumulative share of events."""
    ax = ax or plt.gca()
    ax.loglog(popularity["rank"], popularity["events"], color="tab:blue")
    ax.set_xlabel("item popularity rank")
    ax.set_ylabel("events per item", color="tab:blue")
    twin = ax.twinx()
    twin.plot(popularity["rank"], popularity["cumulative_share"], color="tab:orange")
    twin.set_ylabel("cumulative share of events", color="tab:orange")
    ax.set_title("item popularity: the long tail")
    return ax


def activity_histogram(activity: pd.Series, ax=None):
    ax = ax or plt.gca()
    ax.hist(activity, bins=50, log=True, color="tab:green")
    ax.set_xlabel("events per user")
    ax.set_ylabel("users (log)")
    ax.set_title("user activity")
    return ax


def cold_start(shares: pd.DataFrame, ax=None):
    ax = ax or plt.gca()
    for col in [c for c in shares.columns if c.startswith("new_")]:
        ax.plot(shares["period"], shares[col], marker="o", label=col.replace("_", " "))
    ax.set_ylabel("share of the period's events")
    ax.set_title("cold start over time")
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    return ax


def metric_bars(table: pd.DataFrame, metrics: list[str], ax=None):
    """Grouped bars: one group per metric, one bar per model."""
    ax = ax or plt.gca()
    table.set_index("model")[metrics].T.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("value")
    ax.set_title("leaderboard")
    return ax
