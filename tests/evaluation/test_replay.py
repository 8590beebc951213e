"""Replay (Li et al. 2011) against a hand-computed case and against online ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.evaluation.replay import (
    LoggedEvents,
    compare_policies,
    compare_two,
    popularity_scores,
    replay,
    simulate_uniform_log,
)
from nbrec.models.bandits import FixedRanking, Policy, RandomPolicy, ThompsonSampling


def bernoulli_log(ctr: np.ndarray, n_events: int, seed: int) -> LoggedEvents:
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, len(ctr), size=n_events)
    rewards = (rng.random(n_events) < ctr[arms]).astype(float)
    return LoggedEvents(
        np.zeros(n_events), arms, rewards, np.array([f"a{i}" for i in range(len(ctr))])
    )


def test_hand_computed_case():
    """Policy that always shows arm 1: only events that logged arm 1 count, in order."""
    log = LoggedEvents(
        users=np.arange(6),
        arms=np.array([0, 1, 1, 2, 1, 0]),
        rewards=np.array([1.0, 0.0, 1.0, 1.0, 1.0, 0.0]),
        arm_ids=np.array(["x", "y", "z"]),
    )
    result = replay(FixedRanking(np.array([0.0, 1.0, 0.5])), log, "fixed")
    assert result.n_matched == 3
    assert result.rewards.tolist() == [0.0, 1.0, 1.0]
    assert result.ctr == pytest.approx(2 / 3)
    curve = result.curve()
    assert curve["cumulative_reward"].tolist() == [0, 1, 2]
    assert curve["ctr"].tolist() == pytest.approx([0, 0.5, 2 / 3])
    # Wilson interval for 2 of 3 at 95% (hand formula)
    z, n, p = stats.norm.ppf(0.975), 3, 2 / 3
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert result.ci == pytest.approx((centre - half, centre + half))


def test_learning_policy_only_learns_from_matched_events():
    """A policy's counters must change only on matched events (the heart of replay)."""

    class Recorder(Policy):
        name = "recorder"

        def __init__(self):
            self.seen_pulls = []

        def scores(self, pulls, rewards, rng):
            self.seen_pulls.append(pulls.sum())
            return np.array([1.0, 0.0])  # always arm 0

    log = LoggedEvents(np.arange(5), np.array([1, 0, 1, 0, 0]), np.ones(5), np.array(["a", "b"]))
    policy = Recorder()
    result = replay(policy, log)
    assert result.n_matched == 3
    assert policy.seen_pulls == [0, 0, 1, 1, 2]


def test_fixed_policy_estimate_is_unbiased():
    ctr = np.array([0.1, 0.3, 0.6, 0.2])
    result = replay(FixedRanking(np.array([0, 0, 1.0, 0])), bernoulli_log(ctr, 20_000, seed=3))
    low, high = result.ci
    assert low <= 0.6 <= high
    assert abs(result.n_matched - 5_000) < 300  # about n_events / n_arms


def test_thompson_replay_agrees_with_online_ground_truth():
    """Li et al.: replay on K*T uniform events estimates the policy's online CTR over T steps.

    Ground truth comes from running Thompson online against the same Bernoulli arms (an
    independent simulation, no log involved), averaged over many runs.
    """
    ctr = np.array([0.05, 0.1, 0.2, 0.4, 0.15])
    steps, runs = 400, 60
    rng = np.random.default_rng(11)
    online = []
    for _ in range(runs):
        pulls, rewards, total = np.zeros(5), np.zeros(5), 0.0
        for _ in range(steps):
            arm = ThompsonSampling().select(pulls, rewards, 1, rng)[0]
            reward = float(rng.random() < ctr[arm])
            ThompsonSampling.update(pulls, rewards, arm, reward)
            total += reward
        online.append(total / steps)
    truth = float(np.mean(online))
    estimates = []
    for seed in range(20):
        log = bernoulli_log(ctr, len(ctr) * steps, seed=100 + seed)
        result = replay(ThompsonSampling(), log, seed=seed)
        estimates.append(result.ctr)
    # Mean of 20 replay estimates within 3 standard errors of the online truth.
    se = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - truth) < 3 * se + 0.01
    assert truth > 0.25  # Thompson found the 0.4 arm: the check is not vacuous


def test_random_policy_matches_one_event_in_n_arms():
    ctr = np.full(10, 0.3)
    result = replay(RandomPolicy(), bernoulli_log(ctr, 10_000, seed=5))
    assert abs(result.n_matched - 1_000) < 100


def ratings_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}", float(rng.integers(1, 6)))
        for u in range(50)
        for i in range(8)
        if rng.random() < 0.6
    ]
    frame = pd.DataFrame(rows, columns=[USER_COL, ITEM_COL, WEIGHT_COL])
    frame[TIMESTAMP_COL] = pd.date_range("2026-01-01", periods=len(frame), freq="h", tz="UTC")
    return frame


def test_simulated_log_is_uniform_and_rewards_follow_ratings():
    frame = ratings_frame()
    log = simulate_uniform_log(frame, n_arms=5, n_events=20_000, seed=1)
    assert log.n_arms == 5 and len(log) == 20_000
    counts = np.bincount(log.arms, minlength=5)
    assert stats.chisquare(counts).pvalue > 0.001  # uniform logging policy
    liked = set(zip(frame[USER_COL], frame[ITEM_COL], frame[WEIGHT_COL] >= 4, strict=True))
    for user, arm, reward in list(zip(log.users, log.arms, log.rewards, strict=True))[:500]:
        assert ((user, log.arm_ids[arm], True) in liked) == bool(reward)


def test_compare_policies_table_and_curves():
    frame = ratings_frame()
    log = simulate_uniform_log(frame, n_arms=5, n_events=5_000, seed=2)
    policies = {
        "thompson": ThompsonSampling(),
        "random": RandomPolicy(),
        "popularity": FixedRanking(popularity_scores(frame, log)),
    }
    table, curves, results = compare_policies(policies, log)
    assert set(table["policy"]) == set(policies)
    assert table["ctr"].is_monotonic_decreasing
    assert (table["ctr_low"] <= table["ctr"]).all() and (table["ctr"] <= table["ctr_high"]).all()
    assert set(curves["policy"]) == set(policies)
    assert len(curves) == table["matched"].sum()
    diff = compare_two(results["popularity"], results["random"])
    assert diff["diff_low"] <= diff["ctr_diff"] <= diff["diff_high"]
    assert diff["ctr_diff"] == pytest.approx(results["popularity"].ctr - results["random"].ctr)
