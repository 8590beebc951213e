"""Bandits online: a variant that is a policy over a candidate pool, learning from /feedback.

The counters (pulls, rewards per arm) live in the feature store, whose ``incr_counter`` is atomic
(Redis HINCRBY / SQLite UPSERT), so several service workers share one posterior: each request
reads the counters, picks a slate, counts the pulls; each click adds a reward.

Every slate comes with propensities, the probability that each shown item would be shown
(Monte Carlo for Thompson sampling), so replay / IPS can evaluate other policies offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

REWARD_EVENTS = frozenset({"click", "purchase"})


class CounterStore(Protocol):
    """The two feature-store methods a bandit needs (``nbrec.store.FeatureStore`` has them)."""

    def incr_counter(self, namespace: str, arm: str, pulls: int = 0, rewards: int = 0) -> None: ...

    def counters(self, namespace: str) -> dict[str, tuple[int, int]]: ...


def namespace(experiment: str, variant: str) -> str:
    """Counter namespace of one bandit variant: a new experiment starts from a flat prior."""
    return f"exp:{experiment}:{variant}"


@dataclass(frozen=True)
class Slate:
    items: list[str]
    scores: list[float]
    propensities: list[float]


def thompson(
    pulls: np.ndarray, rewards: np.ndarray, k: int, rng: np.random.Generator, draws: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k of one Beta(1 + r, 1 + p - r) draw per arm; propensity = P(arm in top-k) by Monte Carlo."""
    alpha = 1.0 + rewards
    beta = 1.0 + np.maximum(pulls - rewards, 0.0)
    sample = rng.beta(alpha, beta)
    chosen = _top(sample, k)
    sims = rng.beta(alpha, beta, size=(draws, len(pulls)))
    inside = np.zeros(len(pulls))
    np.add.at(inside, np.argpartition(-sims, k - 1, axis=1)[:, :k].ravel(), 1.0)
    # The slate actually drawn is one more sample, so no shown item has propensity 0.
    props = (inside[chosen] + 1.0) / (draws + 1.0)
    return chosen, sample[chosen], props


def ucb1(
    pulls: np.ndarray, rewards: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic: mean + sqrt(2 ln N / n); unpulled arms first (random order among them)."""
    total = max(pulls.sum(), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(pulls > 0, rewards / pulls + np.sqrt(2 * np.log(total) / pulls), np.inf)
    tie_break = rng.random(len(pulls)) * 1e-9
    chosen = _top(np.where(np.isinf(score), 1e9 + tie_break, score + tie_break), k)
    return chosen, np.minimum(score[chosen], 1e9), np.ones(len(chosen))


def epsilon_greedy(
    pulls: np.ndarray, rewards: np.ndarray, k: int, rng: np.random.Generator, epsilon: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """With probability epsilon a random slate, else the best means; exact propensities."""
    n = len(pulls)
    means = np.where(pulls > 0, rewards / np.maximum(pulls, 1), 0.5)
    greedy = _top(means + rng.random(n) * 1e-9, k)
    chosen = rng.choice(n, size=k, replace=False) if rng.random() < epsilon else greedy
    props = epsilon * k / n + (1 - epsilon) * np.isin(chosen, greedy)
    return chosen, means[chosen], props


POLICIES = {"thompson": thompson, "ucb1": ucb1, "epsilon_greedy": epsilon_greedy}


def _top(values: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")]


class OnlineBandit:
    """One bandit variant over a candidate pool; state is only the store's counters."""

    def __init__(self, store: CounterStore, namespace: str, policy: str = "thompson"):
        if policy not in POLICIES:
            raise ValueError(f"unknown bandit policy {policy!r}; choose one of {sorted(POLICIES)}")
        self.store = store
        self.namespace = namespace
        self.policy = policy

    def arrays(self, pool: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(pulls, rewards) aligned to ``pool``; rewards capped at pulls (a click counted twice)."""
        counts = self.store.counters(self.namespace)
        pulls = np.array([counts.get(arm, (0, 0))[0] for arm in pool], dtype=float)
        rewards = np.array([counts.get(arm, (0, 0))[1] for arm in pool], dtype=float)
        return pulls, np.minimum(rewards, pulls)

    def recommend(self, pool: list[str], k: int, rng: np.random.Generator) -> Slate:
        """Pick ``k`` of ``pool`` and count them as pulled."""
        if not pool:
            return Slate([], [], [])
        k = min(k, len(pool))
        pulls, rewards = self.arrays(pool)
        chosen, scores, props = POLICIES[self.policy](pulls, rewards, k, rng)
        items = [pool[i] for i in chosen]
        for item in items:
            self.store.incr_counter(self.namespace, item, pulls=1)
        return Slate(items, [float(s) for s in scores], [float(p) for p in props])

    def feedback(self, item_id: str, event: str = "click") -> bool:
        """Count a reward for ``item_id`` when ``event`` is one; returns whether it counted."""
        if event not in REWARD_EVENTS:
            return False
        self.store.incr_counter(self.namespace, item_id, rewards=1)
        return True
