"""LightFM (Kula 2015) as a hybrid recommender: ids plus user and item side features.

Every user is the sum of the embeddings of their features (their id, and e.g. age band,
gender, occupation); every item likewise (its id and its genres). Hence cold start:

- a new user who brings only side features is scored with ``embeddings()``: the sum of
  their features' vectors dotted with the item vectors, plus the item bias;
- a new item that brings only metadata gets a vector from ``item_vectors_for(items)``.

An id feature weighs 1 and the side features about 1 together: users' side features weigh
``1 / n_user_columns`` each (a constant, not row-normalised, so a cold user's vector is exactly
the plain sum the ``Embeddings`` contract promises); items' side features share one unit.

Fitting holds out a share of each user's training interactions, trains epoch by epoch
(tqdm bar) until NDCG@k on that holdout has not improved for ``patience`` epochs, then
refits on all the training data for the best number of epochs. Nothing is pickled: the
learned arrays are saved with the base class's ``state.npz``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, ITEM_COL, USER_COL
from nbrec.data.features import feature_columns, one_hot
from nbrec.models.base import (
    SCORE_BUFFER,
    Embeddings,
    Recommender,
    TrainingData,
    _frame,
    exclude,
    top_k,
)  # fmt: skip
from nbrec.models.item2item import binary
from nbrec.models.registry import register
from nbrec.models.similarity import cosine_rows


def side_features(
    table: pd.DataFrame | None, key: str, n: int
) -> tuple[sp.csr_matrix, sp.csr_matrix, list[str], list[str]]:
    """(identity n x n, one-hot side features, their names, the side columns used)."""
    side, names, columns = sp.csr_matrix((n, 0), dtype=np.float32), [], []
    if table is not None:
        columns = feature_columns(table, key)
        side, names = one_hot(table, columns)
    return sp.identity(n, dtype=np.float32, format="csr"), side, names, columns


def l1_rows(features: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to sum 1 (a multi-genre item splits one unit of weight among its genres)."""
    return sp.diags(1.0 / np.maximum(features.sum(axis=1).A1, 1e-12)).astype(np.float32) @ features


def holdout(matrix: sp.csr_matrix, ratio: float, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Move a random ``ratio`` of each user's interactions (users with >= 2 keep one) to a holdout."""
    rng = np.random.default_rng(seed)
    coo = matrix.tocoo()
    counts = np.bincount(coo.row, minlength=matrix.shape[0])
    rank = np.empty(coo.nnz, dtype=np.int64)
    order = np.lexsort((rng.random(coo.nnz), coo.row))
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank[order] = np.arange(coo.nnz) - np.repeat(starts, counts)
    n_out = np.minimum(np.floor(counts * ratio + 0.5), counts - 1)
    out = rank < n_out[coo.row]
    keep = sp.csr_matrix((coo.data[~out], (coo.row[~out], coo.col[~out])), shape=matrix.shape)
    held = sp.csr_matrix((coo.data[out], (coo.row[out], coo.col[out])), shape=matrix.shape)
    return keep, held


def ndcg_at_k(scores: np.ndarray, seen: sp.csr_matrix, relevant: sp.csr_matrix, k: int) -> float:
    """Mean NDCG@k over users with relevant items, seen items excluded (the leaderboard's rule)."""
    users = np.flatnonzero(np.diff(relevant.indptr))
    scores = scores[users].copy()
    exclude(scores, seen[users])
    items, _ = top_k(scores, k)
    hits = np.take_along_axis(relevant[users].toarray() > 0, items, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    n_rel = np.minimum(np.diff(relevant[users].indptr), k)
    ideal = np.cumsum(discounts)[n_rel - 1]
    return float(((hits * discounts).sum(axis=1) / ideal).mean())


# Holdout users scored per epoch (a seeded sample beyond that). Scoring them was 70% of a
# fit on the 10k-user selection sample of 20k items (10k users: 422 of 594 s, profiled); at
# 3,000 the curve's standard error is ~0.005 NDCG, and MovieLens-100k (943 users) is unchanged.
EARLY_STOP_USERS = 3_000


@register
class LightFMRecommender(Recommender):
    """LightFM hybrid with WARP or BPR loss, early stopping and request-time embeddings."""

    name = "lightfm"
    # 8 candidates: the leaderboard's default 12 trials cover the whole grid. The learning
    # rate stays 0.05: 0.02 gains ~0.001 NDCG on ML-100k for 4x the epochs (fit budget).
    search_space = {
        "loss": ["warp", "bpr"],
        "no_components": [32, 64],
        "use_features": [True, False],
    }

    def __init__(
        self,
        loss: str = "warp",
        no_components: int = 64,
        learning_rate: float = 0.05,
        item_alpha: float = 0.0,
        user_alpha: float = 0.0,
        max_sampled: int = 30,
        max_epochs: int = 60,
        patience: int = 5,
        holdout_ratio: float = 0.15,
        use_features: bool = True,
        num_threads: int = 2,
        seed: int = DEFAULT_SEED,
        progress: bool = False,
    ):
        # int()/bool(): tuning may hand values back as floats (a row of a float frame)
        self.loss, self.no_components, self.learning_rate = loss, int(no_components), learning_rate
        self.item_alpha, self.user_alpha, self.max_sampled = item_alpha, user_alpha, max_sampled
        self.max_epochs, self.patience = int(max_epochs), int(patience)
        self.holdout_ratio = holdout_ratio
        self.use_features, self.num_threads, self.seed = bool(use_features), num_threads, seed
        self.progress = progress

    def _new_lightfm(self):
        from lightfm import LightFM  # imported here: importing nbrec.models stays cheap

        if self.loss not in ("warp", "bpr", "warp-kos", "logistic"):
            raise ValueError(
                f"loss must be 'warp' or 'bpr' (or warp-kos, logistic), got {self.loss!r}"
            )
        return LightFM(
            no_components=self.no_components, loss=self.loss, learning_rate=self.learning_rate,
            item_alpha=self.item_alpha, user_alpha=self.user_alpha, max_sampled=self.max_sampled,
            random_state=self.seed,
        )  # fmt: skip

    def _fit(self, data: TrainingData) -> None:
        x = binary(data.matrix)  # implicit feedback: every interaction is a positive
        users, items = (data.users, data.items) if self.use_features else (None, None)
        user_id, user_side, user_names, self.user_columns_ = side_features(
            users, USER_COL, x.shape[0]
        )
        item_id, item_side, item_names, self.item_columns_ = side_features(
            items, ITEM_COL, x.shape[1]
        )
        # An id weighs 1 and all side features together about 1. Users: a constant weight per
        # column, so a cold user's vector is exactly the plain sum the Embeddings contract uses.
        self.user_weight_ = 1.0 / max(len(self.user_columns_), 1)
        user_f = sp.hstack([user_id, user_side * self.user_weight_], format="csr", dtype=np.float32)
        item_f = sp.hstack([item_id, l1_rows(item_side)], format="csr", dtype=np.float32)
        self.best_epochs_, self.validation_curve_ = self._early_stopping(x, user_f, item_f)
        model = self._new_lightfm()
        for _ in tqdm(range(self.best_epochs_), desc="lightfm refit", disable=not self.progress):
            model.fit_partial(x, user_f, item_f, epochs=1, num_threads=self.num_threads)
        self._keep(model, user_f, item_f, user_names, item_names)

    def _early_stopping(self, x, user_f, item_f) -> tuple[int, list[float]]:
        """Epochs that maximise holdout NDCG@k, and the curve (one value per epoch)."""
        train, held = holdout(x, self.holdout_ratio, self.seed)
        if held.nnz == 0:
            return max(1, self.max_epochs // 4), []
        model, curve, best = self._new_lightfm(), [], 0
        users = np.flatnonzero(np.diff(held.indptr))
        if len(users) > EARLY_STOP_USERS:  # a seeded sample: the curve's shape is what counts
            rng = np.random.default_rng(self.seed)
            users = np.sort(rng.choice(users, EARLY_STOP_USERS, replace=False))
        bar = tqdm(range(self.max_epochs), desc=f"lightfm {self.loss}", disable=not self.progress)
        for epoch in bar:
            model.fit_partial(train, user_f, item_f, epochs=1, num_threads=self.num_threads)
            curve.append(self._holdout_ndcg(model, user_f, item_f, train, held, users))
            bar.set_postfix(val_ndcg=f"{curve[-1]:.4f}")
            if curve[-1] > curve[best]:
                best = epoch
            elif epoch - best >= self.patience:
                break
        return best + 1, curve

    @staticmethod
    def _holdout_ndcg(model, user_f, item_f, train, held, users: np.ndarray) -> float:
        """Mean holdout NDCG@k of ``users``, scored in batches of at most SCORE_BUFFER floats."""
        _, ue = model.get_user_representations(user_f)
        ib, ie = model.get_item_representations(item_f)
        batch = max(1, SCORE_BUFFER // max(ie.shape[0], 1))
        total = 0.0
        for lo in range(0, len(users), batch):
            rows = users[lo : lo + batch]
            scores = ue[rows] @ ie.T + ib
            total += ndcg_at_k(scores, train[rows], held[rows], DEFAULT_K) * len(rows)
        return total / len(users)

    @classmethod
    def memory_bytes(cls, shape, params: dict) -> int:
        """Embeddings with their gradient and momentum (x3), representations, feature and
        holdout matrices; scoring is batched (common to every model)."""
        d = int(params.get("no_components", cls().no_components)) + 1
        entities = shape.n_users + shape.n_items + 1_000  # + side-feature rows
        return 3 * entities * d * 4 + 2 * entities * d * 4 + 3 * 16 * shape.nnz + 32 * entities

    def _keep(self, model, user_f, item_f, user_names, item_names) -> None:
        """Keep only arrays: per-user and per-item vectors, and per-feature vectors for cold start."""
        n_users, n_items = user_f.shape[0], item_f.shape[0]
        _, self.user_vectors_ = model.get_user_representations(user_f)
        self.item_bias_, self.item_vectors_ = model.get_item_representations(item_f)
        # Side-feature rows (after the identity block), pre-scaled by the user weight.
        self.user_feature_vectors_ = model.user_embeddings[n_users:] * self.user_weight_
        self.user_feature_names_ = np.array(user_names, dtype=str)
        self.item_feature_vectors_ = model.item_embeddings[n_items:]
        self.item_feature_bias_ = model.item_biases[n_items:]
        self.item_feature_names_ = np.array(item_names, dtype=str)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return self.user_vectors_[rows] @ self.item_vectors_.T + self.item_bias_

    def embeddings(self) -> Embeddings:
        return Embeddings(
            item_ids=[str(i) for i in self.item_ids_],
            item_vectors=self.item_vectors_.astype(np.float32),
            item_bias=self.item_bias_.astype(np.float32),
            user_feature_vectors=self.user_feature_vectors_.astype(np.float32),
            user_feature_names=self.user_feature_names_.tolist(),
        )

    def _item_similarity(self, codes: np.ndarray) -> np.ndarray:
        """Cosine of the item vectors (``similar_items``: the closest vectors)."""
        return cosine_rows(self.item_vectors_, codes)

    def score_user_features(self, features: list[str]) -> np.ndarray:
        """Scores of every item for a new user known only by ``features`` (e.g. 'gender=F')."""
        self._check_fitted()
        emb = self.embeddings()
        return emb.scores(emb.feature_rows(features))

    def recommend_from_features(self, users: pd.DataFrame, k: int = DEFAULT_K) -> pd.DataFrame:
        """Top-``k`` for new users given only their rows of a user side table (cold start)."""
        self._check_fitted()
        cols = [c for c in self.user_columns_ if c in users.columns]
        features, found = one_hot(users, cols)
        index = pd.Index(self.user_feature_names_).get_indexer(found)
        vectors = (
            features[:, np.flatnonzero(index >= 0)] @ self.user_feature_vectors_[index[index >= 0]]
        )
        items, scores = top_k(vectors @ self.item_vectors_.T + self.item_bias_, k)
        ids = users[USER_COL].astype(str).to_numpy()
        return _frame(ids, self.item_ids_, items, scores)

    def item_vectors_for(self, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(vectors, biases) for items known only by metadata (same columns as the item table)."""
        self._check_fitted()
        names = pd.Index(self.item_feature_names_)
        cols = [c for c in self.item_columns_ if c in items.columns]
        features, found = one_hot(items, cols)
        index = names.get_indexer(found)
        weights = l1_rows(features[:, np.flatnonzero(index >= 0)])
        return (
            weights @ self.item_feature_vectors_[index[index >= 0]],
            weights @ self.item_feature_bias_[index[index >= 0]],
        )

    _ARRAYS = (
        "user_vectors_", "item_vectors_", "item_bias_", "user_feature_vectors_",
        "user_feature_names_", "item_feature_vectors_", "item_feature_bias_", "item_feature_names_",
    )  # fmt: skip

    def _state(self) -> dict[str, np.ndarray]:
        state = {name.rstrip("_"): getattr(self, name) for name in self._ARRAYS}
        state["item_columns"] = np.array(self.item_columns_, dtype=str)
        state["user_columns"] = np.array(self.user_columns_, dtype=str)
        state["scalars"] = np.array([self.user_weight_, self.best_epochs_])
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        for name in self._ARRAYS:
            setattr(self, name, state[name.rstrip("_")])
        self.item_columns_ = state["item_columns"].tolist()
        self.user_columns_ = state["user_columns"].tolist()
        self.user_weight_, best = state["scalars"].tolist()
        self.best_epochs_ = int(best)
