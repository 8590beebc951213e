from __future__ import annotations

import numpy as np
import pytest

from nbrec.models import make_model
from nbrec.models.bandits import (
    UCB1,
    EpsilonGreedy,
    FixedRanking,
    Policy,
    RandomPolicy,
    ThompsonSampling,
    learn_counters,
)
from tests.models.contract import RecommenderContract


class TestThompson(RecommenderContract):
    def make_model(self):
        return make_model("thompson", rounds=500)


class TestUCB1(RecommenderContract):
    def make_model(self):
        return make_model("ucb1", rounds=500)


class TestEpsilonGreedy(RecommenderContract):
    def make_model(self):
        return make_model("epsilon_greedy", rounds=500, epsilon=0.2)


POLICIES = [EpsilonGreedy(0.1), UCB1(), ThompsonSampling()]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_select_returns_k_distinct_arms(policy: Policy):
    rng = np.random.default_rng(0)
    pulls, rewards = np.array([10.0, 5, 0, 3, 8]), np.array([2.0, 1, 0, 3, 1])
    for k in (1, 3, 5, 9):
        arms = policy.select(pulls, rewards, k, rng)
        assert len(arms) == min(k, 5) and len(set(arms.tolist())) == len(arms)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_policies_find_the_best_arm(policy: Policy):
    """Bernoulli arms with CTR 0.1..0.5: after 3000 rounds the best arm has most pulls."""
    rng = np.random.default_rng(1)
    ctr = np.array([0.1, 0.2, 0.5, 0.3, 0.15])
    clicks = (rng.random((5000, 5)) < ctr).astype(float)
    pulls, rewards = learn_counters(policy, clicks, 3000, rng)
    assert pulls.sum() == 3000
    assert int(np.argmax(pulls)) == 2
    assert pulls[2] > 0.5 * 3000


def test_update_in_place():
    pulls, rewards = np.zeros(3), np.zeros(3)
    ThompsonSampling.update(pulls, rewards, 1, 1.0)
    ThompsonSampling.update(pulls, rewards, 1, 0.0)
    assert pulls.tolist() == [0, 2, 0] and rewards.tolist() == [0, 1, 0]


def test_ucb1_tries_unpulled_arms_first_then_hand_computed_bonus():
    pulls, rewards = np.array([4.0, 0.0, 2.0]), np.array([2.0, 0.0, 0.0])
    rng = np.random.default_rng(0)
    assert UCB1().select(pulls, rewards, 1, rng)[0] == 1
    scores = UCB1().scores(np.array([4.0, 2.0]), np.array([2.0, 0.0]), rng)
    t = 6.0
    np.testing.assert_allclose(
        scores, [0.5 + np.sqrt(2 * np.log(t) / 4), np.sqrt(2 * np.log(t) / 2)]
    )


def test_epsilon_zero_is_greedy_and_one_is_uniform():
    pulls, rewards = np.array([10.0, 10, 10]), np.array([1.0, 9, 5])
    rng = np.random.default_rng(0)
    assert EpsilonGreedy(0.0).select(pulls, rewards, 3, rng).tolist() == [1, 2, 0]
    firsts = [EpsilonGreedy(1.0).select(pulls, rewards, 1, rng)[0] for _ in range(3000)]
    assert np.allclose(np.bincount(firsts) / 3000, 1 / 3, atol=0.04)


def test_thompson_draws_follow_the_beta_posterior():
    rng = np.random.default_rng(0)
    draws = np.array(
        [ThompsonSampling().scores(np.array([10.0]), np.array([3.0]), rng)[0] for _ in range(4000)]
    )
    assert abs(draws.mean() - 4 / 12) < 0.01  # Beta(1 + 3, 1 + 7) has mean 4/12


def test_bandit_recommender_prefers_liked_items(tiny_synthetic):
    model = make_model("thompson", pool_size=30, rounds=3000).fit(tiny_synthetic.interactions)
    assert len(model.counters()) == 30
    assert model.pulls_.sum() == 3000
    # The arms it plays most are the ones users click most often (known from the data).
    clicks = (model.seen_[:, model.pool_] > 0).mean(axis=0).A1
    assert np.corrcoef(model.pulls_, clicks)[0, 1] > 0.5


def select_loop(policy: Policy, clicks: np.ndarray, rounds: int, rng: np.random.Generator):
    """The original ``learn_counters``: one full ``select`` per round (the reference)."""
    pulls, rewards = np.zeros(clicks.shape[1]), np.zeros(clicks.shape[1])
    for user in rng.integers(0, clicks.shape[0], size=rounds):
        arm = int(policy.select(pulls, rewards, 1, rng)[0])
        policy.update(pulls, rewards, arm, float(clicks[user, arm]))
    return pulls, rewards


# Counters the per-round ``select`` loop learnt before the fast ``play`` (main, 2026-12-01).
RECORDED = {
    "epsilon_greedy": ([3, 3, 8, 19, 81, 86], [0, 0, 2, 4, 29, 50]),
    "ucb1": ([6, 6, 13, 9, 36, 130], [0, 0, 3, 1, 15, 71]),
    "thompson": ([7, 5, 10, 10, 85, 83], [0, 0, 2, 3, 39, 43]),
}


@pytest.mark.parametrize(
    "policy", [EpsilonGreedy(0.2), UCB1(0.5), ThompsonSampling()], ids=lambda p: p.name
)
def test_learn_counters_reproduces_recorded_counters(policy: Policy):
    clicks = np.random.default_rng(5).random((20, 6)) < np.linspace(0.0, 0.5, 6)
    pulls, rewards = learn_counters(policy, clicks, 200, np.random.default_rng(11))
    assert (pulls.tolist(), rewards.tolist()) == RECORDED[policy.name]


FAST_POLICIES = [
    EpsilonGreedy(0.0),
    EpsilonGreedy(0.3),
    EpsilonGreedy(1.0),
    UCB1(),
    UCB1(0.25),
    ThompsonSampling(),
    ThompsonSampling(2.0, 0.5),
    RandomPolicy(),
    FixedRanking(np.array([1.0, 3.0, 3.0, 0.0, 2.0, 3.0, 1.0, 0.0])),
]


@pytest.mark.parametrize("policy", FAST_POLICIES, ids=lambda p: f"{p.name}-{vars(p)}")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learn_counters_equals_the_select_loop(policy: Policy, seed: int):
    """Same seed, same counters as the reference loop (many ties: all-zero and all-one arms)."""
    rng = np.random.default_rng(100 + seed)
    clicks = rng.random((30, 8)) < np.array([0.0, 0.0, 0.1, 0.3, 0.3, 0.6, 1.0, 1.0])
    fast = learn_counters(policy, clicks, 400, np.random.default_rng(seed))
    slow = select_loop(policy, clicks, 400, np.random.default_rng(seed))
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    assert fast[0].sum() == 400
