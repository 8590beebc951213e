"""Bandits online on a real feature store, propensities, and the offline-online link."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import redis

from nbrec.experiments.config import Experiment
from nbrec.experiments.offline import ips_estimate, replay_ci, replay_from_logs
from nbrec.experiments.online import OnlineBandit, namespace, propensities
from nbrec.experiments.simulator import Population, simulate
from nbrec.models.bandits import ThompsonSampling
from nbrec.store import open_store

ARMS = [f"arm{i}" for i in range(8)]
TRUE_CTR = dict(zip(ARMS, [0.30, 0.10, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02], strict=True))


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'features.db'}"
    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return url


def test_counters_pulls_rewards_and_events(store_url):
    store = open_store(store_url)
    bandit = OnlineBandit(store, namespace("exp", "thompson"))
    slate = bandit.recommend(ARMS, 3, np.random.default_rng(0))
    assert len(slate.items) == 3 == len(set(slate.items)) and set(slate.items) <= set(ARMS)
    assert all(0 < p <= 1 for p in slate.propensities)
    assert bandit.feedback(slate.items[0], "click") and not bandit.feedback(slate.items[1], "view")
    counts = store.counters(namespace("exp", "thompson"))
    assert {arm: counts[arm] for arm in slate.items} == {
        slate.items[0]: (1, 1.0),
        slate.items[1]: (1, 0.0),
        slate.items[2]: (1, 0.0),
    }
    assert store.counters(namespace("exp", "other")) == {}  # variants never share a posterior
    assert bandit.recommend([], 3, np.random.default_rng(0)).items == []
    with pytest.raises(ValueError, match="unknown bandit policy 'greedy'"):
        OnlineBandit(store, "ns", "greedy")
    store.close()


def test_two_workers_learn_together(store_url):
    """Two workers, each with its own store connection, share one posterior and lose no update."""
    steps = 400

    def worker(seed: int) -> None:
        store = open_store(store_url)
        bandit = OnlineBandit(store, namespace("shared", "ts"))
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            arm = bandit.recommend(ARMS, 1, rng).items[0]
            if rng.random() < TRUE_CTR[arm]:
                bandit.feedback(arm)
        store.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = open_store(store_url).counters(namespace("shared", "ts"))
    assert sum(p for p, _ in counts.values()) == 2 * steps  # atomic increments: nothing lost
    best = max(counts, key=lambda arm: counts[arm][0])
    assert best == "arm0" and counts["arm0"][0] > 0.4 * 2 * steps


def test_thompson_propensities_match_selection_frequencies():
    rng = np.random.default_rng(3)
    pulls = np.array([50, 40, 30, 20, 10, 5, 2, 0], dtype=float)
    rewards = np.array([10, 6, 4, 2, 1, 1, 0, 0], dtype=float)
    k = 3
    policy = ThompsonSampling()
    every = propensities(policy, pulls, rewards, np.arange(len(pulls)), k, rng, draws=4000)
    assert every.sum() == pytest.approx(k, rel=0.01)  # each slate holds k arms
    counts = np.zeros(len(pulls))
    for _ in range(4000):
        counts[policy.select(pulls, rewards, k, rng)] += 1
    assert np.abs(every - counts / 4000).max() < 0.03


@pytest.fixture(scope="module")
def arms_population() -> Population:
    """10 arms liked by 50% ... 5% of 2,000 users; click 30% on a liked arm, 2% otherwise."""
    rng = np.random.default_rng(0)
    share = np.array([0.5, 0.35, 0.25, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    users = np.array([f"u{i}" for i in range(2000)], dtype=object)
    items = np.array([f"i{j}" for j in range(len(share))], dtype=object)
    return Population(users, items, rng.random((2000, len(share))) < share, share, 0.3, 0.02)


UNIFORM = Experiment(name="log", variants=[{"name": "uniform", "allocation": 1.0},
                                           {"name": "unused", "allocation": 1e-9}])  # fmt: skip


def test_replay_from_logged_propensities_agrees_with_online_ctr(arms_population, tmp_path):
    """Replay of Thompson sampling on a uniform log vs the same bandit run online on the store.

    Replay runs on 10 disjoint slices of the log (a t-interval over runs, since a learning
    policy's CTR varies with its early luck); online runs 20 times for as many steps as each
    replay acted, on the real SQLite store, clicks drawn from the users' known tastes.
    """
    pop = arms_population
    arm_ids = list(pop.item_ids)
    requests, feedback = simulate(pop, UNIFORM, {"uniform": pop.uniform_policy(np.arange(10))},
                                  users=100_000, k=1, seed=11)  # fmt: skip
    assert np.allclose(np.concatenate(requests["propensities"].to_numpy()), 0.1)
    offline = replay_ci(ThompsonSampling, requests, feedback, arm_ids, chunks=10)
    horizon = int(np.mean(offline["matched"]))
    assert horizon > 800
    store = open_store(f"sqlite:///{tmp_path / 'online.db'}")
    rng = np.random.default_rng(5)
    online = []
    for run in range(20):
        bandit = OnlineBandit(store, namespace("online", f"run{run}"))
        for user in rng.integers(0, len(pop.user_ids), size=horizon):
            item = bandit.recommend(arm_ids, 1, rng).items[0]
            p = pop.p_match if pop.likes[user, arm_ids.index(item)] else pop.p_other
            clicked = rng.random() < p
            if clicked:
                bandit.feedback(item)
            online.append(clicked)
    store.close()
    online_ctr = float(np.mean(online))
    low, high = offline["ctr_low"], offline["ctr_high"]
    assert low <= online_ctr <= high, (
        f"online {online_ctr:.4f} outside replay CI [{low:.4f}, {high:.4f}]"
    )
    # The bandit learned: well above uniform logging's CTR, below always playing the best arm.
    uniform_ctr = requests["request_id"].isin(feedback["request_id"]).mean()
    best_ctr = 0.02 + 0.28 * pop.likes[:, 0].mean()
    assert uniform_ctr + 0.02 < offline["ctr"] < best_ctr


def test_ips_of_a_fixed_policy_matches_its_true_ctr(arms_population):
    pop = arms_population
    requests, feedback = simulate(pop, UNIFORM, {"uniform": pop.uniform_policy(np.arange(10))},
                                  users=20_000, k=1, seed=12)  # fmt: skip
    estimate = ips_estimate(lambda user, item: float(item == "i1"), requests, feedback)
    truth = pop.expected_ctr(lambda users, k, rng: (np.full((len(users), 1), 1), None), 1)
    assert estimate["ctr_low"] <= truth <= estimate["ctr_high"]
    with pytest.raises(ValueError, match="uniformly random logging"):
        replay_from_logs(ThompsonSampling(), requests.assign(propensities=[[0.2]] * len(requests)),
                         feedback, list(pop.item_ids))  # fmt: skip
