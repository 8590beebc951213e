"""Simulated users with known preferences, in process (fast, for the statistical tests).

Ground truth comes from the synthetic generator (``Dataset.meta['taste']``: each user's taste
category; items carry ``category``) or from a held-out split (``Population.from_holdout``: an item
a user interacts with in the held-out events is "to their taste"). A user clicks each shown item
independently with probability ``p_match`` if it is to their taste, else ``p_other``; so the
expected CTR of any policy is known exactly, which is what the trust tests need.

The in-process mode writes the same rows the service writes to the RR log, so the analysis reads
a simulation and production alike. ``nbrec.experiments.http_sim`` drives the real service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.data.schema import Dataset
from nbrec.experiments.config import HOLDOUT, INTERLEAVED, Experiment
from nbrec.experiments.traffic import Traffic

SIM_START = pd.Timestamp("2026-01-01", tz="UTC")  # first day of a simulation with ``days``
# policy(user_rows, k, rng) -> (item_rows n x k, propensities n x k or None)
Policy = Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, np.ndarray | None]]


def has_tastes(data: Dataset) -> bool:
    """Whether ``data`` carries the generator's ground truth (users' tastes, items' categories)."""
    return "taste" in data.meta and data.items is not None and "category" in data.items


@dataclass
class Population:
    """Users and items with a known like-matrix (boolean, users x items)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    likes: np.ndarray  # bool, n_users x n_items
    popularity: np.ndarray  # item scores used by the popularity policies
    p_match: float = 0.05
    p_other: float = 0.01

    @classmethod
    def from_dataset(
        cls, data: Dataset, p_match: float = 0.05, p_other: float = 0.01
    ) -> Population:
        """Synthetic ground truth: a user likes every item of their taste category."""
        if not has_tastes(data):
            raise ValueError(
                f"data set {data.name!r} has no ground truth (meta['taste'] and items.category); "
                "use nbrec.data.synthetic.generate, or Population.from_holdout for a real data set"
            )
        taste = data.meta["taste"]
        items = data.items
        likes = taste["taste_category"].to_numpy()[:, None] == items["category"].to_numpy()[None, :]
        counts = data.interactions[ITEM_COL].value_counts()
        pop = counts.reindex(items[ITEM_COL]).fillna(0).to_numpy(dtype=float)
        return cls(
            taste[USER_COL].to_numpy(), items[ITEM_COL].to_numpy(), likes, pop, p_match, p_other
        )

    @classmethod
    def from_holdout(
        cls, train: pd.DataFrame, test: pd.DataFrame, p_match: float = 0.3, p_other: float = 0.01
    ) -> Population:
        """A real data set's held-out split: held-out items are what each user likes."""
        users = np.sort(test[USER_COL].unique())
        items = np.sort(pd.concat([train[ITEM_COL], test[ITEM_COL]]).unique())
        rows = np.searchsorted(users, test[USER_COL].to_numpy())
        cols = np.searchsorted(items, test[ITEM_COL].to_numpy())
        likes = np.zeros((len(users), len(items)), dtype=bool)
        likes[rows, cols] = True
        pop = train[ITEM_COL].value_counts().reindex(items).fillna(0).to_numpy(dtype=float)
        return cls(users, items, likes, pop, p_match, p_other)

    def click_probability(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """P(click) per shown item: ``users`` (n,) rows, ``items`` (n, k) columns."""
        return np.where(self.likes[users[:, None], items], self.p_match, self.p_other)

    def expected_ctr(
        self, policy: Policy, k: int, seed: int = 0, users: np.ndarray | None = None
    ) -> float:
        """Exact expected request CTR (P(at least one click)) of a policy over the population."""
        users = np.arange(len(self.user_ids)) if users is None else users
        shown, _ = policy(users, k, np.random.default_rng(seed))
        miss = np.prod(1.0 - self.click_probability(users, shown), axis=1)
        return float(np.mean(1.0 - miss))

    # -- policies with known quality ----------------------------------------------------------
    def popular_policy(self) -> Policy:
        """Everyone gets the most popular items (what a popularity model serves)."""
        order = np.argsort(-self.popularity, kind="stable")

        def policy(users, k, rng):
            return np.broadcast_to(order[:k], (len(users), k)), None

        return policy

    def taste_policy(self, share: float = 1.0) -> Policy:
        """Known-better: the first ``round(share * k)`` slots hold the user's most popular liked items."""
        order = np.argsort(-self.popularity, kind="stable")
        ranked_likes = self.likes[:, order]

        def policy(users, k, rng):
            n_taste = int(round(share * k))
            # Rank liked items first (by popularity), then the rest by popularity.
            pick = np.argsort(~ranked_likes[users], axis=1, kind="stable")
            shown = order[pick[:, :k]]
            popular = np.broadcast_to(order[:k], shown.shape)
            return np.where(np.arange(k) < n_taste, shown, popular), None

        return policy

    def uniform_policy(self, pool: np.ndarray) -> Policy:
        """Uniformly random slate from ``pool`` (item rows): the logging policy for replay."""

        def policy(users, k, rng):
            keys = rng.random((len(users), len(pool)))
            picked = np.argpartition(keys, k - 1, axis=1)[:, :k]
            return pool[picked], np.full((len(users), k), k / len(pool))

        return policy


def assign_variants(
    experiment: Experiment, user_ids: np.ndarray, salt: str | None = None
) -> np.ndarray:
    """Variant name per user, by the same hashing the service uses (holdout included)."""
    from nbrec.experiments.assignment import Allocator

    allocator = Allocator(
        experiment if salt is None else experiment.model_copy(update={"salt": salt})
    )
    return np.array([allocator.variant(str(u)) for u in user_ids], dtype=object)


def simulate(
    population: Population,
    experiment: Experiment,
    policies: dict[str, Policy],
    users: int,
    requests_per_user: int = 1,
    k: int = 10,
    seed: int = 0,
    salt: str | None = None,
    latency_ms: Callable[[np.random.Generator, int], np.ndarray] | None = None,
    traffic: Traffic | None = None,
    days: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run one experiment in process -> (request rows, feedback rows) in the RR log schema.

    ``users`` are drawn without replacement from the population (with replacement if it is
    smaller); each makes ``requests_per_user`` requests to its variant's policy and clicks by
    its preferences. ``policies`` maps variant name (and ``holdout`` if used) to a policy.
    With ``traffic`` (``nbrec.experiments.traffic.Traffic``), users make heavy-tailed numbers
    of requests (its capped Zipf law) and click at heterogeneous rates: each user's click
    probabilities are scaled by Beta(ctr_a, ctr_b) / its mean. With ``days``, users arrive
    uniformly over that many UTC days from 2026-01-01 and request rows carry ``ts`` (so the
    analysis reads the experiment day by day); without, rows have no timestamp.
    """
    rng = np.random.default_rng(seed)
    n_pop = len(population.user_ids)
    rows = rng.choice(n_pop, size=users, replace=users > n_pop)
    counts, activity = np.full(users, requests_per_user), np.ones(users)
    if traffic is not None:
        counts = traffic.draw(rng, users)["requests"]
        mean = traffic.ctr_a / (traffic.ctr_a + traffic.ctr_b)
        activity = rng.beta(traffic.ctr_a, traffic.ctr_b, users) / mean
    arrival = rng.integers(0, max(days, 1), users)
    # Simulated user ids are unique per draw so a user's assignment is a fresh hash each run.
    user_ids = np.array([f"{population.user_ids[r]}#{i}" for i, r in enumerate(rows)], dtype=object)
    variants = assign_variants(experiment, user_ids, salt)
    requests, feedback = [], []
    for variant in [*experiment.variant_names, INTERLEAVED, HOLDOUT]:
        mask = variants == variant
        if not mask.any():
            continue
        if variant not in policies:
            raise KeyError(f"no policy for variant {variant!r}; have {sorted(policies)}")
        req_users = np.repeat(np.flatnonzero(mask), counts[mask])
        shown, props = policies[variant](rows[req_users], k, rng)
        p_click = population.click_probability(rows[req_users], shown) * activity[req_users, None]
        clicked = rng.random(shown.shape) < np.minimum(p_click, 1.0)
        ids = np.array([uuid.uuid4().hex for _ in range(len(req_users))], dtype=object)
        lat = latency_ms(rng, len(req_users)) if latency_ms else rng.gamma(4.0, 1.5, len(req_users))
        ts = {}
        if days:  # no column otherwise: writers stamp the time they write (write_rr_logs)
            ts["ts"] = SIM_START + pd.to_timedelta(arrival[req_users], "D") + pd.to_timedelta(
                rng.random(len(req_users)) * 86_000, "s"
            )  # fmt: skip
        requests.append(
            pd.DataFrame(
                {
                    "kind": "request",
                    **ts,
                    "request_id": ids,
                    "user_id": user_ids[req_users],
                    "experiment": experiment.name,
                    "variant": variant,
                    "k": k,
                    "n_items": shown.shape[1],
                    "latency_ms": lat,
                    "status": 200,
                    "fallback": None,
                    "items": list(population.item_ids[shown]),
                    "propensities": list(props) if props is not None else None,
                }
            )  # fmt: skip
        )
        r, c = np.nonzero(clicked)
        feedback.append(
            pd.DataFrame(
                {
                    "kind": "feedback",
                    "request_id": ids[r],
                    "user_id": user_ids[req_users][r],
                    "experiment": experiment.name,
                    "variant": variant,
                    "item_id": population.item_ids[shown[r, c]],
                    "event": "click",
                    "value": 1.0,
                }
            )  # fmt: skip
        )
    return pd.concat(requests, ignore_index=True), pd.concat(feedback, ignore_index=True)


def population_for(data: Dataset, seed: int = 0, **click_rates: float) -> Population:
    """Ground truth for ``data``: the generator's tastes when known, else a held-out split."""
    if has_tastes(data):
        return Population.from_dataset(data, **click_rates)
    from nbrec.data.splits import split

    parts = split(data.interactions, "stratified", validation=False, seed=seed)
    return Population.from_holdout(parts.train, parts.test, **click_rates)
