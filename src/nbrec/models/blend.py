"""A blend of models whose weights are learned on a validation split of its training data.

Linear score blending (the ensembles of the Netflix Prize: Töscher, Jahrer, Bell 2009, "The
BigChaos Solution to the Netflix Grand Prize"; for top-k lists, Schnabel-style per-user
standardisation): each member's scores for a user are standardised over the items the user
has not seen (mean 0, sd 1), then summed with weights on the simplex. ``fit`` learns the
weights itself unless given: it carves a validation split out of the data it receives (the
same per-user stratified rule as the accuracy protocol), fits the members on the rest, picks
the simplex point with the best NDCG@k there, then refits the members it kept on all of the
data. So the blend never sees a test split, whoever calls it.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, DEFAULT_VALIDATION_RATIO, ITEM_COL, USER_COL
from nbrec.data.splits import stratified_split
from nbrec.models.base import Recommender, TrainingData, exclude, top_k
from nbrec.models.registry import get_model_class, register

DEFAULT_MEMBERS = "ease,als,lightfm"
# Simplex grid step by number of members (2: 11 points, 3: 21, 4: 35, more: 5 per axis).
GRID_STEPS = {1: 1, 2: 10, 3: 5, 4: 4}


def standardised(scores: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """Scores per row as z-values over the unseen items (seen items are set to 0)."""
    out = np.array(scores, dtype=np.float32, copy=True)
    mask = np.zeros(out.shape, dtype=bool)
    mask[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr)), seen.indices] = True
    out[mask] = np.nan
    mean = np.nanmean(out, axis=1, keepdims=True)
    sd = np.nanstd(out, axis=1, keepdims=True)
    out = (out - mean) / np.where(sd > 0, sd, 1.0)
    out[mask] = 0.0
    return np.nan_to_num(out, copy=False)


def ndcg_sum(
    scores: np.ndarray, seen: sp.csr_matrix, relevant: sp.csr_matrix, n_relevant, k: int
) -> float:
    """Sum over rows of NDCG@k (seen items excluded; the ideal list from ``n_relevant``)."""
    scores = scores.copy()
    exclude(scores, seen)
    items, _ = top_k(scores, k)
    hits = np.take_along_axis(relevant.toarray() > 0, items, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return float(((hits * discounts).sum(axis=1) / ideal).sum())


def simplex(n: int, steps: int) -> list[np.ndarray]:
    """Weight vectors of ``n`` members on a grid with ``steps`` steps per unit."""
    points = [c for c in itertools.product(range(steps + 1), repeat=n) if sum(c) == steps]
    return [np.array(c, dtype=np.float64) / steps for c in points]


@register
class Blend(Recommender):
    """Weighted blend of registered models (default EASE, ALS, LightFM: three families); the
    weights are learned on a validation split carved from the training data (module docstring)
    unless given; the leaderboard learns them on its own validation split (``weights_on``).

    ``member_params`` maps a member's name to its hyperparameters (the leaderboard passes
    the tuned ones); ``weights`` maps names to fixed weights and skips the learning.
    """

    name = "blend"
    search_space: ClassVar[dict] = {}

    def __init__(
        self,
        members: str = DEFAULT_MEMBERS,
        member_params: dict | None = None,
        weights: dict | None = None,
        validation_ratio: float = DEFAULT_VALIDATION_RATIO,
        k: int = DEFAULT_K,
        seed: int = DEFAULT_SEED,
    ):
        self.members, self.member_params, self.weights = members, member_params, weights
        self.validation_ratio, self.k, self.seed = validation_ratio, k, seed

    def member_names(self) -> list[str]:
        names = [n.strip() for n in self.members.split(",") if n.strip()]
        for name in names:
            if name == self.name:
                raise ValueError("a blend cannot contain itself")
            get_model_class(name)
        if not names:
            raise ValueError("a blend needs at least one member")
        return names

    @classmethod
    def memory_bytes(cls, shape, params: dict) -> int:
        """Every member fitted and held at once, each with its own fit overhead."""
        from nbrec.models.memory import fit_bytes

        blend = cls(**params)
        return sum(
            fit_bytes(get_model_class(n), shape, (blend.member_params or {}).get(n, {}))
            for n in blend.member_names()
        )

    def _member(self, name: str) -> Recommender:
        return get_model_class(name)(**(self.member_params or {}).get(name, {}))

    def fit(self, interactions: pd.DataFrame, items=None, users=None, fitted=None):
        """``fitted``: models already fitted on the same data (e.g. by the leaderboard); a
        member with the same class and hyperparameters whose training matrix equals this
        one is used as it is instead of being fitted again."""
        self._side = (items, users)  # members that use side features get them too
        self._fitted = fitted or {}
        try:
            return super().fit(interactions, items, users)
        finally:
            del self._side, self._fitted

    def _fit(self, data: TrainingData) -> None:
        names = self.member_names()
        frame = data.interactions.drop(columns=["user_code", "item_code"])
        if self.weights is not None:
            weights = {n: float(self.weights.get(n, 0.0)) for n in names}
        else:
            weights = self.learn_weights(frame, names)
        self.weights_ = {n: w for n, w in weights.items() if w > 0}
        self.members_ = {}
        for name in self.weights_:
            member = self._reusable(name, data) or self._member(name).fit(frame, *self._side)
            if not member.item_ids_.equals(data.item_ids):
                raise RuntimeError(f"member {name} was fitted on another catalogue")
            self.members_[name] = member

    def _reusable(self, name: str, data: TrainingData) -> Recommender | None:
        given, wanted = self._fitted.get(name), self._member(name)
        if given is None or type(given) is not type(wanted) or not given.is_fitted:
            return None
        same = given.get_params() == wanted.get_params() and given.user_ids_.equals(data.user_ids)
        same = same and given.item_ids_.equals(data.item_ids)
        return given if same and (given.seen_ != data.matrix).nnz == 0 else None

    def learn_weights(self, frame: pd.DataFrame, names: list[str]) -> dict[str, float]:
        """Best simplex weights by NDCG@k on a validation split carved from ``frame``."""
        if len(names) == 1:
            return {names[0]: 1.0}
        inner, held = stratified_split(frame, self.validation_ratio, self.seed)
        weights, _ = self.weights_on(inner, held, *self._side)
        return weights

    def weights_on(
        self, train: pd.DataFrame, validation: pd.DataFrame, items=None, users=None
    ) -> tuple[dict[str, float], float]:
        """Members fitted on ``train``; the simplex weights with the best NDCG@k on
        ``validation`` and that NDCG (the leaderboard calls this with its validation split)."""
        names = self.member_names()
        members = [self._member(n).fit(train, items, users) for n in names]
        first = members[0]
        n_users = validation[USER_COL].nunique()
        validation = validation[validation[USER_COL].astype(str).isin(first.user_ids_)]
        # every validation interaction is relevant (the protocol), known items or not
        n_relevant = validation.groupby(validation[USER_COL].astype(str)).size()
        held = validation[validation[ITEM_COL].astype(str).isin(first.item_ids_)]
        rows = first.user_rows(held[USER_COL].unique())
        seen = first.seen_[rows]
        relevant = sp.csr_matrix(
            (
                np.ones(len(held)),
                (
                    pd.Index(first.user_ids_[rows]).get_indexer(held[USER_COL].astype(str)),
                    first.item_ids_.get_indexer(held[ITEM_COL].astype(str)),
                ),
            ),
            shape=(len(rows), len(first.item_ids_)),
        )
        n_rel = n_relevant.reindex(first.user_ids_[rows]).to_numpy()
        z = [standardised(m._score(rows), seen) for m in members]
        self.validation_curve_ = []
        best, best_score = None, -np.inf
        for w in simplex(len(names), GRID_STEPS.get(len(names), 5)):
            mix = sum(wi * zi for wi, zi in zip(w, z, strict=True))
            score = ndcg_sum(mix, seen, relevant, n_rel, self.k) / max(n_users, 1)
            self.validation_curve_.append((w.tolist(), score))
            if score > best_score:
                best, best_score = w, score
        return dict(zip(names, best.tolist(), strict=True)), float(best_score)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        seen = self.seen_[rows]
        total = np.zeros((len(rows), len(self.item_ids_)), dtype=np.float32)
        for name, member in self.members_.items():
            total += self.weights_[name] * standardised(member._score(rows), seen)
        return total

    def _state(self) -> dict[str, np.ndarray]:
        state = {"names": np.array(list(self.weights_)),
                 "weights": np.array(list(self.weights_.values()))}  # fmt: skip
        for i, member in enumerate(self.members_.values()):
            state.update({f"{i}_{key}": value for key, value in member._state().items()})
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        names = [str(n) for n in state["names"]]
        self.weights_ = dict(zip(names, state["weights"].tolist(), strict=True))
        self.members_ = {}
        for i, name in enumerate(names):
            member = self._member(name)
            member.user_ids_, member.item_ids_ = self.user_ids_, self.item_ids_
            member.seen_, member.item_popularity_ = self.seen_, self.item_popularity_
            prefix = f"{i}_"
            member._set_state(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
            self.members_[name] = member
