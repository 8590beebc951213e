"""Bandits online: a variant that is a policy over a candidate pool, learning from /feedback.

The policy math is the models' (``nbrec.models.bandits``): the same ``select`` runs offline
in replay and online here. The counters (pulls, rewards per arm) live in the feature store,
whose ``incr_counter`` is atomic (Redis HINCRBY / SQLite UPSERT), so several service workers share one posterior: each request
reads the counters, picks a slate, counts the pulls; each click adds a reward.

Every slate comes with propensities, the probability that each shown item would be shown
(Monte Carlo over the policy's randomness), so replay / IPS can evaluate other policies offline.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from nbrec.models.bandits import POLICIES, Policy, ThompsonSampling, empirical_means
from nbrec.serving.routing import Slate

REWARD_EVENTS = frozenset({"click", "purchase"})


class CounterStore(Protocol):
    """The two feature-store methods a bandit needs (``nbrec.store.FeatureStore`` has them)."""

    def incr_counter(
        self, namespace: str, arm: str, pulls: int = 0, rewards: float = 0
    ) -> None: ...

    def counters(self, namespace: str) -> dict[str, tuple[int, float]]: ...


def namespace(experiment: str, variant: str) -> str:
    """Counter namespace of one bandit variant: a new experiment starts from a flat prior."""
    return f"exp:{experiment}:{variant}"


def propensities(
    policy: Policy, pulls: np.ndarray, rewards: np.ndarray, chosen: np.ndarray, k: int,
    rng: np.random.Generator, draws: int = 128,
) -> np.ndarray:  # fmt: skip
    """P(each chosen arm is in a top-k slate) under ``policy``, by Monte Carlo over its randomness.

    Thompson sampling is vectorised (its draws are element-wise); other policies are re-run
    ``draws // 4`` times (they are deterministic but for ties and epsilon).
    """
    if isinstance(policy, ThompsonSampling):
        shape = (draws, len(pulls))
        sims = policy.scores(np.broadcast_to(pulls, shape), np.broadcast_to(rewards, shape), rng)
        slates = np.argpartition(-sims, k - 1, axis=1)[:, :k].ravel()
    else:
        draws = max(draws // 4, 1)
        slates = np.concatenate([policy.select(pulls, rewards, k, rng) for _ in range(draws)])
    inside = np.bincount(slates, minlength=len(pulls)).astype(float)
    # The slate actually served is one more draw, so no shown item gets propensity 0.
    return (inside[chosen] + 1.0) / (draws + 1.0)


def make_policy(name: str) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown bandit policy {name!r}; choose one of {sorted(POLICIES)}")
    return POLICIES[name]()


class OnlineBandit:
    """One bandit variant over a candidate pool; state is only the store's counters."""

    def __init__(self, store: CounterStore, namespace: str, policy: str = "thompson"):
        self.store = store
        self.namespace = namespace
        self.policy = make_policy(policy)

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
        chosen = self.policy.select(pulls, rewards, k, rng)
        props = propensities(self.policy, pulls, rewards, chosen, k, rng)
        means = empirical_means(pulls, rewards)[chosen]
        items = [pool[i] for i in chosen]
        for item in items:
            self.store.incr_counter(self.namespace, item, pulls=1)
        return Slate(items, [float(m) for m in means], [float(p) for p in props])

    def feedback(self, item_id: str, event: str = "click") -> bool:
        """Count a reward for ``item_id`` when ``event`` is one; returns whether it counted."""
        if event not in REWARD_EVENTS:
            return False
        self.store.incr_counter(self.namespace, item_id, rewards=1)
        return True
