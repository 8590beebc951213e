"""Baselines every model must beat: random, most popular, recency-weighted popular."""

from __future__ import annotations

import numpy as np

from nbrec.constants import DEFAULT_SEED, TIMESTAMP_COL
from nbrec.models.base import Recommender, TrainingData
from nbrec.models.registry import register


@register
class RandomRecommender(Recommender):
    """Uniformly random items: the floor of the leaderboard."""

    name = "random"

    def __init__(self, seed: int = DEFAULT_SEED):
        self.seed = seed

    def _fit(self, data: TrainingData) -> None:
        pass

    def _score(self, rows: np.ndarray) -> np.ndarray:
        # One stream per user (as the bandits have), so a user's list does not depend on
        # which other users share the batch: the same user always gets the same answer.
        out = np.empty((len(rows), len(self.item_ids_)), dtype=np.float32)
        for i, row in enumerate(rows):
            out[i] = np.random.default_rng([self.seed, int(row)]).random(out.shape[1], out.dtype)
        return out

    def _cold_scores(self) -> np.ndarray:
        return np.random.default_rng(self.seed).random(len(self.item_ids_), dtype=np.float32)


@register
class PopularityRecommender(Recommender):
    """The same list for everyone: items by number of distinct users in training."""

    name = "popularity"

    def __init__(self):
        pass

    def _fit(self, data: TrainingData) -> None:
        self.scores_ = self.item_popularity_

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(rows), len(self.scores_)))

    def _state(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.scores_ = state["scores"]


@register
class RecencyPopularityRecommender(PopularityRecommender):
    """Popularity where each event counts ``0.5 ** (age / half_life_days)``: trends win."""

    name = "recency"
    search_space = {"half_life_days": [3.0, 7.0, 14.0, 30.0, 90.0]}

    def __init__(self, half_life_days: float = 14.0):
        self.half_life_days = half_life_days

    def _fit(self, data: TrainingData) -> None:
        ts = data.interactions[TIMESTAMP_COL]
        age_days = (ts.max() - ts).dt.total_seconds().to_numpy() / 86_400
        decay = np.power(0.5, age_days / self.half_life_days)
        codes = data.interactions["item_code"].to_numpy()
        self.scores_ = np.bincount(codes, weights=decay, minlength=len(data.item_ids)).astype(
            np.float32
        )

    def _cold_scores(self) -> np.ndarray:
        return self.scores_
