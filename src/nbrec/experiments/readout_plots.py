"""Plots of an experiment read-out, so the analysis notebook stays free of definitions."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nbrec.experiments.analysis import required_sample_size


def ctr_by_variant(metrics: pd.DataFrame, ax=None):
    """CTR per variant with its Wilson 95% interval."""
    ax = ax or plt.gca()
    ctr = metrics["ctr"]
    errors = np.vstack([ctr - metrics["ctr_low"], metrics["ctr_high"] - ctr])
    ax.bar(metrics.index.astype(str), ctr, yerr=errors, capsize=6, color="tab:blue", alpha=0.8)
    ax.set_ylabel("request CTR (share of requests clicked)")
    ax.set_title("CTR by variant, 95% interval")
    return ax


def pvalue_histogram(p_values: pd.Series, alpha: float = 0.05, ax=None):
    """A/A p-values: uniform when the test is calibrated; the bar left of alpha is the false-positive rate."""
    ax = ax or plt.gca()
    ax.hist(p_values, bins=20, range=(0, 1), color="tab:gray", edgecolor="white")
    ax.axhline(len(p_values) / 20, color="tab:red", linestyle="--", label="uniform")
    ax.axvline(alpha, color="tab:orange", label=f"alpha = {alpha}")
    ax.set_xlabel("p-value")
    ax.set_ylabel("A/A experiments")
    ax.set_title(f"A/A p-values: {np.mean(p_values < alpha):.1%} below alpha")
    ax.legend()
    return ax


def power_curve(
    baseline: float, mdes: list[float], alpha: float = 0.05, power: float = 0.8, ax=None
):
    """Users per variant needed to detect each minimum detectable effect (log scale)."""
    ax = ax or plt.gca()
    needed = [required_sample_size(baseline, m, alpha, power) for m in mdes]
    ax.plot(mdes, needed, marker="o")
    ax.set_yscale("log")
    ax.set_xlabel("minimum detectable effect (absolute CTR)")
    ax.set_ylabel("users per variant")
    ax.set_title(f"sample size at baseline CTR {baseline:.3f}, power {power}")
    return ax


def stop_rule(sequential: dict, ax=None):
    """The group-sequential z after each daily read against its boundaries, and the verdict."""
    ax = ax or plt.gca()
    z = np.array(sequential["z_by_read"])
    bound = np.array([np.nan if b is None else b for b in sequential["boundary_by_read"]])
    reads = np.arange(1, len(z) + 1)
    ax.plot(reads, z, marker="o", label="z (per-user CTR difference / its se)")
    ax.step(
        reads,
        bound,
        where="mid",
        color="tab:orange",
        linestyle="--",
        label="boundary (alpha spending)",
    )
    ax.step(reads, -bound, where="mid", color="tab:orange", linestyle="--")
    ax.axhline(0, color="tab:gray", linewidth=0.5)
    ax.set_xlabel("daily read")
    ax.set_ylabel("z")
    verdict = "may stop" if sequential["may_stop"] else "keep running"
    ax.set_title(f"group-sequential test: {verdict}")
    ax.legend(fontsize=7)
    return ax


def peeking_rates(aa: dict, ax=None):
    """False-positive rates of A/A experiments: peeking at fixed-horizon vs always-valid."""
    ax = ax or plt.gca()
    reads = {"fixed-horizon,\nread every peek": aa["naive"], "group-sequential,\nread every peek": aa["sequential"],
             "mSPRT,\nread every peek": aa["msprt"],
             **{f"{k}\nread once": v for k, v in aa["fixed_horizon"].items()}}  # fmt: skip
    rates = np.array([r["rate"] for r in reads.values()])
    errors = np.array([[r["rate"] - r["ci"][0], r["ci"][1] - r["rate"]] for r in reads.values()]).T
    ax.bar(list(reads), rates, yerr=errors, capsize=4, color="tab:gray")
    ax.axhline(aa["alpha"], color="tab:orange", linestyle="--", label=f"alpha = {aa['alpha']}")
    ax.set_ylabel("false-positive rate")
    ax.set_title(f"A/A: {aa['runs']} experiments read {aa['peeks']} times")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend()
    return ax


def preference(report: dict, ax=None):
    """Interleaving: the per-user preference (share of requests b won minus a's), with its mean."""
    ax = ax or plt.gca()
    pref = np.array([row["preference"] for row in report["per_user"]])
    ax.hist(pref, bins=np.linspace(-1, 1, 21), color="tab:gray")
    ax.axvline(
        report["mean_preference"],
        color="tab:orange",
        label=f"mean {report['mean_preference']:+.3f}",
    )
    ax.set_xlabel(f"per-user preference: {report['team_b']} (+) vs {report['team_a']} (-)")
    ax.set_ylabel("users")
    ax.set_title(
        f"interleaving: t-test p={report['t_p_value']:.3g}, winner {report['winner'] or 'none yet'}"
    )
    ax.legend()
    return ax
