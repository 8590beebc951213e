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


def always_valid_p(sequential: dict, alpha: float = 0.05, ax=None):
    """The always-valid p-value after each daily read, and where it may stop."""
    ax = ax or plt.gca()
    p = sequential["p_by_read"]
    reads = np.arange(1, len(p) + 1)
    ax.step(reads, p, where="post", marker="o", label="always-valid p (running minimum)")
    ax.axhline(alpha, color="tab:orange", linestyle="--", label=f"alpha = {alpha}")
    ax.set_yscale("log")
    ax.set_ylim(max(min(p) / 2, 1e-6), 1.5)
    ax.set_xlabel("daily read")
    ax.set_ylabel("p-value")
    verdict = "may stop" if sequential["may_stop"] else "keep running"
    ax.set_title(f"sequential test: {verdict}")
    ax.legend()
    return ax


def peeking_rates(aa: dict, ax=None):
    """False-positive rates of A/A experiments: peeking at fixed-horizon vs always-valid."""
    ax = ax or plt.gca()
    reads = {"fixed-horizon,\nread every peek": aa["naive"], "always-valid,\nread every peek": aa["sequential"],
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
