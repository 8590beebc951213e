"""Plots for the product dashboard: one bar or line per (model_version, variant), never hard-coded.

Each function returns the matplotlib figure; in a notebook the inline backend shows it.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from nbrec.monitoring.product_metrics import GROUP

LABELS = {
    "requests": "requests",
    "users": "users",
    "ctr": "CTR (requests with a click)",
    "engagement": "feedback events / active user / day",
    "retention_d1": "day-1 retention",
    "retention_d7": "day-7 retention",
    "churn": "churn",
    "coverage": "catalog coverage",
    "novelty": "novelty (bits)",
    "fallback_rate": "fallback rate",
    "empty_rate": "empty-answer rate",
    "latency_p99_ms": "p99 latency (ms)",
}


def group_label(frame: pd.DataFrame) -> pd.Series:
    return frame["model_version"].astype(str) + "\n" + frame["variant"].astype(str)


def metric_bars(summary: pd.DataFrame, metrics: list[str], title: str, columns: int = 3):
    """A small multiple per metric, one bar per group."""
    rows = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    labels = group_label(summary)
    colors = [f"C{i}" for i in range(len(summary))]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        bars = ax.bar(labels, summary[metric].fillna(0), color=colors)
        ax.bar_label(bars, fmt="%.3g", fontsize=8)  # a bar of 0 still shows its value
        ax.set_title(LABELS.get(metric, metric))
        ax.tick_params(axis="x", labelsize=8)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def daily_lines(daily: pd.DataFrame, metrics: list[str], title: str):
    """Each metric over UTC days, one line per group."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        for key, part in daily.groupby(GROUP, sort=True):
            ax.plot(pd.to_datetime(part["day"]), part[metric], marker="o", label=" / ".join(key))
        ax.set_title(LABELS.get(metric, metric))
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def offline_online(frame: pd.DataFrame, pairs: list[tuple[str, str]], title: str):
    """Offline leaderboard figure next to its online counterpart, per group.

    ``pairs`` are (offline column, online column); groups without an offline match show only
    the online bar.
    """
    pairs = [(off, on) for off, on in pairs if off in frame and on in frame]
    if not pairs:
        pairs = [("", "ctr")]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.5 * len(pairs), 3.6), squeeze=False)
    labels = group_label(frame)
    x = range(len(frame))
    for ax, (off, on) in zip(axes.flat, pairs, strict=True):
        if off:
            ax.bar([i - 0.2 for i in x], frame[off].fillna(0), width=0.4, label=f"offline {off}")
        ax.bar([i + 0.2 for i in x], frame[on].fillna(0), width=0.4, label=f"online {on}")
        ax.set_xticks(list(x), labels, fontsize=8)
        ax.set_title(f"{off} vs {on}" if off else f"online {on} (no offline figure)")
        if not off:  # say why, on the chart itself
            ax.text(0.5, 0.95, "no offline figure for these versions: not trained by\n"
                    "nbrec train (model store) and no leaderboard file given",
                    transform=ax.transAxes, ha="center", va="top", fontsize=8)  # fmt: skip
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
