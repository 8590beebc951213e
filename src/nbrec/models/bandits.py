"""Multi-armed bandits over a candidate pool: epsilon-greedy, UCB1, Thompson sampling.

The policy math is small pure functions over two counter arrays, ``pulls`` and ``rewards``
(one entry per arm), so the same code runs offline here and online on counters read from the
feature store (``store.counters(namespace)``)::

    arms = ThompsonSampling().select(pulls, rewards, k=3, rng=rng)   # arm indices, best first
    ThompsonSampling.update(pulls, rewards, arm, reward)               # in place

``BanditRecommender`` wraps a policy as a ``Recommender`` for the leaderboard: its pool is the
``pool_size`` most popular training items, and its counters are learned by letting the policy
play ``rounds`` rounds against the training data (a user clicks an arm when their training
interaction with it is positive, rating >= ``POSITIVE_RATING``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from nbrec.constants import DEFAULT_SEED, POSITIVE_RATING
from nbrec.models.base import Recommender, TrainingData
from nbrec.models.registry import register

UNPULLED_SCORE = 1e6  # finite stand-in for "never tried, try me first" (UCB's infinite bonus)


class Policy:
    """Base policy: ``scores`` per arm (higher is chosen first); ``select`` takes the top k."""

    name: ClassVar[str] = "policy"

    def scores(
        self, pulls: np.ndarray, rewards: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        raise NotImplementedError

    def select(
        self, pulls: np.ndarray, rewards: np.ndarray, k: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Indices of ``k`` distinct arms, best first (ties broken at random)."""
        scores = np.asarray(self.scores(np.asarray(pulls, float), np.asarray(rewards, float), rng))
        jitter = rng.random(len(scores))  # random tie-break: equal arms share the traffic
        return np.lexsort((jitter, -scores))[:k]

    def play(self, clicks: np.ndarray, users: np.ndarray, rng: np.random.Generator):
        """Counters after one round per user: ``select(pulls, rewards, 1, rng)`` and its click."""
        pulls, rewards = np.zeros(clicks.shape[1]), np.zeros(clicks.shape[1])
        for user in users:  # select's draws in select's order, without the full sort
            scores = np.asarray(self.scores(pulls, rewards, rng))
            arm = best_arm(scores, rng.random(len(scores)))
            self.update(pulls, rewards, arm, float(clicks[user, arm]))
        return pulls, rewards

    @staticmethod
    def update(pulls: np.ndarray, rewards: np.ndarray, arm: int, reward: float) -> None:
        """Record one (arm, reward) event in place."""
        pulls[arm] += 1
        rewards[arm] += reward


def best_arm(scores: np.ndarray, jitter: np.ndarray) -> int:
    """First arm of ``lexsort((jitter, -scores))``: highest score, ties to the lowest jitter."""
    arm = int(scores.argmax())
    tied = (scores == scores[arm]).nonzero()[0]
    return arm if len(tied) == 1 else int(tied[jitter[tied].argmin()])


def empirical_means(pulls: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """Reward per pull (0 for unpulled arms)."""
    return np.divide(rewards, pulls, out=np.zeros(len(pulls)), where=pulls > 0)


class EpsilonGreedy(Policy):
    """Best empirical mean; each slot is instead a uniformly random arm with probability epsilon."""

    name = "epsilon_greedy"

    def __init__(self, epsilon: float = 0.1):
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def scores(self, pulls, rewards, rng):
        means = empirical_means(pulls, rewards)
        means[pulls == 0] = UNPULLED_SCORE
        return means

    def select(self, pulls, rewards, k, rng):
        k = min(k, len(pulls))
        greedy = iter(super().select(pulls, rewards, len(pulls), rng))
        shuffled = iter(rng.permutation(len(pulls)))
        chosen: dict[int, None] = {}  # insertion-ordered set
        for explore in rng.random(k) < self.epsilon:
            source = shuffled if explore else greedy
            arm = int(next(source))
            while arm in chosen:
                arm = int(next(source))
            chosen[arm] = None
        return np.fromiter(chosen, dtype=np.int64, count=k)

    def play(self, clicks, users, rng):
        n = clicks.shape[1]  # plain floats: the same IEEE divisions, no numpy call per arm
        pulls, rewards, scores = [0.0] * n, [0.0] * n, [UNPULLED_SCORE] * n
        for user in users:
            jitter = rng.random(n)  # select's draws: jitter, permutation, explore coin
            top = max(scores)
            if scores.count(top) == 1:
                greedy = scores.index(top)
            else:  # = argmin: the first of the lowest jitter
                greedy = min((i for i, s in enumerate(scores) if s == top), key=jitter.__getitem__)
            first = int(rng.permutation(n)[0])
            arm = first if rng.random() < self.epsilon else greedy
            pulls[arm] += 1
            rewards[arm] += float(clicks[user, arm])
            scores[arm] = rewards[arm] / pulls[arm]
        return np.array(pulls), np.array(rewards)


class UCB1(Policy):
    """Mean plus ``c * sqrt(2 ln t / n)`` (Auer et al. 2002); unpulled arms first."""

    name = "ucb1"

    def __init__(self, c: float = 1.0):
        self.c = c

    def scores(self, pulls, rewards, rng):
        t = max(pulls.sum(), 1.0)
        bonus = self.c * np.sqrt(2 * np.log(t) / np.maximum(pulls, 1))
        return np.where(pulls > 0, empirical_means(pulls, rewards) + bonus, UNPULLED_SCORE)

    def play(self, clicks, users, rng):
        n = clicks.shape[1]  # the scores above, in place; all jitter drawn at once (same stream)
        pulls, rewards, means = np.zeros(n), np.zeros(n), np.zeros(n)
        for t, (user, jitter) in enumerate(zip(users, rng.random((len(users), n)), strict=True)):
            scores = means + self.c * np.sqrt(2 * np.log(max(t, 1.0)) / np.maximum(pulls, 1))
            scores[pulls == 0] = UNPULLED_SCORE
            arm = best_arm(scores, jitter)
            self.update(pulls, rewards, arm, float(clicks[user, arm]))
            means[arm] = rewards[arm] / pulls[arm]
        return pulls, rewards


class ThompsonSampling(Policy):
    """Beta-Bernoulli Thompson sampling: per arm one draw from Beta(alpha + wins, beta + losses)."""

    name = "thompson"

    def __init__(self, alpha: float = 1.0, beta: float = 1.0):
        self.alpha, self.beta = alpha, beta

    def scores(self, pulls, rewards, rng):
        failures = np.maximum(pulls - rewards, 0)
        return rng.beta(self.alpha + rewards, self.beta + failures)


class RandomPolicy(Policy):
    """Uniformly random arms: the logging policy and the floor."""

    name = "random"

    def scores(self, pulls, rewards, rng):
        return rng.random(len(pulls))


class FixedRanking(Policy):
    """Always the same order (e.g. popularity); never learns."""

    name = "fixed"

    def __init__(self, order_scores: np.ndarray):
        self.order_scores = np.asarray(order_scores, dtype=float)

    def scores(self, pulls, rewards, rng):
        return self.order_scores


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (EpsilonGreedy, UCB1, ThompsonSampling, RandomPolicy)
}


def learn_counters(
    policy: Policy, clicks: np.ndarray, rounds: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Let ``policy`` play ``rounds`` rounds against ``clicks`` (users x arms, 0/1).

    Each round a random user arrives, the policy picks one arm and is rewarded with that
    user's click. Returns the counters (pulls, rewards): ``play`` gives those of a loop over
    ``select(pulls, rewards, 1, rng)`` (same draws, same order), only faster.
    """
    return policy.play(clicks, rng.integers(0, clicks.shape[0], size=rounds), rng)


class BanditRecommender(Recommender):
    """A bandit policy over the ``pool_size`` most popular items as a (non-personal) recommender.

    Each user's list is the policy's ``select`` on the learned counters, with a random stream
    seeded by the user (so exploration differs between users but one user's list is stable).
    Items outside the pool rank after it, by popularity. Scores are positions (pool size for
    the policy's first choice down to 1), since Thompson draws are not comparable across users.
    """

    search_space: ClassVar[dict[str, list]] = {"pool_size": [50, 100, 200]}

    def __init__(self, pool_size: int = 100, rounds: int = 20_000, seed: int = DEFAULT_SEED):
        self.pool_size, self.rounds, self.seed = pool_size, rounds, seed

    def make_policy(self) -> Policy:
        raise NotImplementedError

    def _fit(self, data: TrainingData) -> None:
        n_pool = min(self.pool_size, len(data.item_ids))
        self.pool_ = np.argsort(-self.item_popularity_, kind="stable")[:n_pool]
        matrix = data.matrix[:, self.pool_]
        # Ratings: a click is a positive rating. Implicit data (all weights <= 1): any event.
        threshold = POSITIVE_RATING if matrix.data.size and matrix.data.max() > 1 else 0.0
        clicks = (matrix >= threshold).toarray() if threshold else (matrix > 0).toarray()
        rng = np.random.default_rng(self.seed)
        self.pulls_, self.rewards_ = learn_counters(self.make_policy(), clicks, self.rounds, rng)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        n_pool = len(self.pool_)
        policy = self.make_policy()
        # Outside the pool: popularity squeezed into [-1, 0), below every pool score.
        base = self.item_popularity_ / (self.item_popularity_.max() + 1) - 1
        out = np.tile(base.astype(np.float32), (len(rows), 1))
        for i, row in enumerate(rows):
            rng = np.random.default_rng([self.seed, int(row) + 1])  # row -1: cold user
            order = policy.select(self.pulls_, self.rewards_, n_pool, rng)
            out[i, self.pool_[order]] = np.arange(n_pool, 0, -1, dtype=np.float32)
        return out

    def _cold_scores(self) -> np.ndarray:
        return self._score(np.array([-1]))[0]

    def _state(self) -> dict[str, np.ndarray]:
        return {"pool": self.pool_, "pulls": self.pulls_, "rewards": self.rewards_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.pool_, self.pulls_, self.rewards_ = state["pool"], state["pulls"], state["rewards"]

    def counters(self) -> dict[str, tuple[float, float]]:
        """Learned counters per pool item id: what the service's feature store would start from."""
        ids = self.item_ids_.to_numpy()[self.pool_]
        return {
            str(i): (float(p), float(r))
            for i, p, r in zip(ids, self.pulls_, self.rewards_, strict=True)
        }


@register
class EpsilonGreedyRecommender(BanditRecommender):
    name = "epsilon_greedy"
    search_space: ClassVar[dict[str, list]] = {
        "pool_size": [50, 100, 200],
        "epsilon": [0.05, 0.1, 0.2],
    }

    def __init__(
        self,
        pool_size: int = 100,
        rounds: int = 20_000,
        epsilon: float = 0.1,
        seed: int = DEFAULT_SEED,
    ):
        super().__init__(pool_size, rounds, seed)
        self.epsilon = epsilon

    def make_policy(self) -> Policy:
        return EpsilonGreedy(self.epsilon)


@register
class UCB1Recommender(BanditRecommender):
    name = "ucb1"
    search_space: ClassVar[dict[str, list]] = {"pool_size": [50, 100, 200], "c": [0.25, 0.5, 1.0]}

    def __init__(
        self, pool_size: int = 100, rounds: int = 20_000, c: float = 1.0, seed: int = DEFAULT_SEED
    ):
        super().__init__(pool_size, rounds, seed)
        self.c = c

    def make_policy(self) -> Policy:
        return UCB1(self.c)


@register
class ThompsonRecommender(BanditRecommender):
    name = "thompson"

    def make_policy(self) -> Policy:
        return ThompsonSampling()
