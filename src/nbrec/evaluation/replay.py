"""Offline evaluation of bandit policies by replay (Li, Chu, Langford & Wang, WSDM 2011).

Replay needs events logged by a *uniformly random* policy over the arms. It walks the log in
order; the policy under test picks an arm from its own counters; when that arm is the one the
log shows, the event "happened" to the policy: its reward is counted and the policy updates.
Other events are skipped. Under uniform logging this is an unbiased estimate of the policy's
online click-through rate (CTR), from about ``n_events / n_arms`` matched events.

``simulate_uniform_log`` builds such a log from a ratings data set: each event is a real user
(drawn from the rating log, in time order) shown one arm of the pool uniformly at random,
rewarded 1 when that user rated the arm >= ``POSITIVE_RATING`` (0 when lower or unrated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint
from tqdm.auto import tqdm

from nbrec.constants import (
    DEFAULT_SEED,
    ITEM_COL,
    POSITIVE_RATING,
    TIMESTAMP_COL,
    USER_COL,
    WEIGHT_COL,
)
from nbrec.models.bandits import Policy

CI_METHOD = "wilson"  # statsmodels' Wilson interval: sane coverage for small n and CTRs near 0


@dataclass
class LoggedEvents:
    """A uniformly random log: per event the user, the arm shown (index into ``arms``) and the reward."""

    users: np.ndarray
    arms: np.ndarray
    rewards: np.ndarray
    arm_ids: np.ndarray  # item id of each arm

    @property
    def n_arms(self) -> int:
        return len(self.arm_ids)

    def __len__(self) -> int:
        return len(self.arms)


@dataclass
class ReplayResult:
    """What a policy earned on the matched events, in order, and its CTR with a confidence interval."""

    policy: str
    n_events: int
    rewards: np.ndarray  # reward of each matched event, in log order
    alpha: float = 0.05

    @property
    def n_matched(self) -> int:
        return len(self.rewards)

    @property
    def ctr(self) -> float:
        return float(self.rewards.mean()) if self.n_matched else float("nan")

    @property
    def ci(self) -> tuple[float, float]:
        low, high = proportion_confint(
            self.rewards.sum(), max(self.n_matched, 1), self.alpha, CI_METHOD
        )
        return float(low), float(high)

    def curve(self) -> pd.DataFrame:
        """Cumulative reward and running CTR (with its interval) after each matched event."""
        step = np.arange(1, self.n_matched + 1)
        cumulative = np.cumsum(self.rewards)
        low, high = proportion_confint(cumulative, step, self.alpha, CI_METHOD)
        return pd.DataFrame(
            {
                "policy": self.policy,
                "step": step,
                "cumulative_reward": cumulative,
                "ctr": cumulative / step,
                "ctr_low": low,
                "ctr_high": high,
            }
        )

    def summary(self) -> dict:
        low, high = self.ci
        return {
            "policy": self.policy,
            "events": self.n_events,
            "matched": self.n_matched,
            "reward": float(self.rewards.sum()),
            "ctr": self.ctr,
            "ctr_low": low,
            "ctr_high": high,
        }


def simulate_uniform_log(
    interactions: pd.DataFrame,
    n_arms: int = 50,
    n_events: int = 100_000,
    seed: int = DEFAULT_SEED,
    threshold: float = POSITIVE_RATING,
) -> LoggedEvents:
    """A uniformly random logging policy over the ``n_arms`` most rated items, simulated.

    Users arrive as often as they rated (drawn from the rating log in time order); each is
    shown one arm uniformly at random and clicks when they rated it >= ``threshold``.
    """
    rng = np.random.default_rng(seed)
    arm_ids = interactions[ITEM_COL].value_counts().index[:n_arms].to_numpy()
    if len(arm_ids) < 2:
        raise ValueError(f"replay needs at least 2 arms; the data has {len(arm_ids)} item(s)")
    ordered = interactions.sort_values(TIMESTAMP_COL, kind="stable")
    visits = np.sort(rng.integers(0, len(ordered), size=n_events))  # arrivals, in time order
    user_ids = ordered[USER_COL].to_numpy()[visits]
    arms = rng.integers(0, len(arm_ids), size=n_events)
    liked = interactions[interactions[WEIGHT_COL] >= threshold]
    liked_keys = pd.MultiIndex.from_arrays([liked[USER_COL], liked[ITEM_COL]])
    shown = pd.MultiIndex.from_arrays([user_ids, arm_ids[arms]])
    rewards = shown.isin(liked_keys).astype(np.float64)
    return LoggedEvents(user_ids, arms, rewards, arm_ids)


def replay(
    policy: Policy,
    log: LoggedEvents,
    name: str | None = None,
    seed: int = DEFAULT_SEED,
    alpha: float = 0.05,
    progress: bool = False,
) -> ReplayResult:
    """Li et al.'s replay estimator of ``policy`` (one arm per event) on a uniform ``log``."""
    rng = np.random.default_rng(seed)
    pulls, rewards = np.zeros(log.n_arms), np.zeros(log.n_arms)
    earned = []
    for arm, reward in tqdm(
        zip(log.arms, log.rewards, strict=True), total=len(log), disable=not progress, desc=name
    ):
        if policy.select(pulls, rewards, 1, rng)[0] == arm:
            earned.append(reward)
            policy.update(pulls, rewards, arm, reward)
    return ReplayResult(name or policy.name, len(log), np.asarray(earned, dtype=np.float64), alpha)


def compare_policies(
    policies: dict[str, Policy], log: LoggedEvents, seed: int = DEFAULT_SEED, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, ReplayResult]]:
    """Replay every policy on the same log: (summary table best CTR first, curves, results)."""
    results = {name: replay(p, log, name, seed, progress=progress) for name, p in policies.items()}
    table = pd.DataFrame([r.summary() for r in results.values()]).sort_values(
        "ctr", ascending=False
    )
    curves = pd.concat([r.curve() for r in results.values()], ignore_index=True)
    return table.reset_index(drop=True), curves, results


def popularity_scores(interactions: pd.DataFrame, log: LoggedEvents) -> np.ndarray:
    """Number of ratings per arm: the order a popularity policy follows."""
    counts = interactions[ITEM_COL].value_counts()
    return counts.reindex(log.arm_ids).fillna(0).to_numpy(dtype=float)


def compare_two(a: ReplayResult, b: ReplayResult, alpha: float = 0.05) -> dict:
    """CTR difference a - b with its confidence interval and p-value (two independent proportions)."""
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    counts = (a.rewards.sum(), a.n_matched, b.rewards.sum(), b.n_matched)
    low, high = confint_proportions_2indep(*counts, compare="diff", alpha=alpha)
    test = test_proportions_2indep(*counts, compare="diff")
    return {
        "policy": a.policy, "baseline": b.policy, "ctr_diff": a.ctr - b.ctr,
        "diff_low": float(low), "diff_high": float(high), "p_value": float(test.pvalue),
    }  # fmt: skip


def plot_curves(curves: pd.DataFrame, value: str = "ctr", ax=None):
    """One line per policy against matched events; for CTR with its confidence band."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    for policy, group in curves.groupby("policy", sort=False):
        ax.plot(group["step"], group[value], label=policy)
        if value == "ctr":
            ax.fill_between(group["step"], group["ctr_low"], group["ctr_high"], alpha=0.2)
    ax.set_xlabel("matched events (replay)")
    ax.set_ylabel(value.replace("_", " "))
    ax.legend()
    return ax
