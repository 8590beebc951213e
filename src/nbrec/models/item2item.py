"""Item-to-item models: EASE (closed form, Steck 2019) and item-kNN on co-occurrence.

Both score a user as ``x_u @ W`` where ``x_u`` is the user's binary history and ``W`` an
item x item weight matrix, and both answer ``similar_items(item_id, k)`` from a row of ``W``.

Memory: EASE inverts a dense n_items x n_items Gram matrix. It needs about
``EASE_COPIES * n_items**2 * 8`` bytes while fitting (Gram, inverse and weights in float64),
e.g. 2.3 GB for 10k items and 58 GB for 50k. ``fit`` checks that against ``max_memory_gb``
(default: half the memory available now) and either raises with the figures or, with
``on_too_large="knn"``, switches to the sparse item-kNN, whose memory is n_items x neighbours.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import psutil
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL
from nbrec.models.base import Recommender, TrainingData, top_k
from nbrec.models.registry import register

EASE_COPIES = 3  # dense n x n float64 arrays alive at once while fitting EASE


class CatalogueTooLargeError(MemoryError):
    """EASE would need more memory than allowed for this catalogue."""


def ease_bytes(n_items: int) -> int:
    """Peak bytes EASE needs to fit a catalogue of ``n_items`` (see module docstring)."""
    return EASE_COPIES * n_items * n_items * 8


def binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The interaction matrix as 0/1 float32 (ratings only say 'seen')."""
    out = matrix.astype(np.float32, copy=True)
    out.data[:] = 1.0
    return out


def ease_weights(x: sp.csr_matrix, l2: float) -> np.ndarray:
    """EASE's closed form: B = I - P diagMat(1 / diag(P)), P = (X'X + l2 I)^-1, diag(B) = 0."""
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    p = np.linalg.inv(gram)
    del gram
    b = p / -np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b.astype(np.float32)


def knn_weights(x: sp.csr_matrix, neighbours: int, shrink: float, alpha: float) -> sp.csr_matrix:
    """Asymmetric cosine similarity of item columns, top ``neighbours`` kept per item (sparse).

    sim(i, j) = c_ij / (n_i^alpha * n_j^(1 - alpha) + shrink), c the co-occurrence counts;
    alpha = 0.5 is plain cosine with shrinkage.
    """
    co = (x.T @ x).tocsr().astype(np.float32)
    co.setdiag(0)
    co.eliminate_zeros()
    counts = np.asarray(x.sum(axis=0)).ravel().astype(np.float32)
    rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
    denom = counts[rows] ** alpha * counts[co.indices] ** (1 - alpha) + shrink
    co.data = co.data / np.maximum(denom, 1e-9)
    return _keep_top(co, neighbours)


def _keep_top(sim: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of each row."""
    keep_rows, keep_cols, keep_vals = [], [], []
    for i in range(sim.shape[0]):
        lo, hi = sim.indptr[i], sim.indptr[i + 1]
        vals, cols = sim.data[lo:hi], sim.indices[lo:hi]
        if len(vals) > n:
            top = np.argpartition(-vals, n - 1)[:n]
            vals, cols = vals[top], cols[top]
        keep_rows.append(np.full(len(vals), i))
        keep_cols.append(cols)
        keep_vals.append(vals)
    return sp.csr_matrix(
        (np.concatenate(keep_vals), (np.concatenate(keep_rows), np.concatenate(keep_cols))),
        shape=sim.shape,
    )


def item_code(item_ids: pd.Index, item_id) -> int:
    """Position of ``item_id`` in the catalogue; KeyError naming it when absent."""
    code = int(item_ids.get_indexer([str(item_id)])[0])
    if code < 0:
        raise KeyError(f"item {item_id!r} is not in the model's catalogue ({len(item_ids)} items)")
    return code


def neighbours_frame(
    item_ids: pd.Index, code: int, similarity: np.ndarray, k: int, positive_only: bool = True
) -> pd.DataFrame:
    """Top ``k`` of one item's similarity row (itself excluded) as ``item_id, score, rank``."""
    row = np.array(similarity, dtype=np.float32).reshape(1, -1)
    row[0, code] = -np.inf  # an item is not its own neighbour
    items, scores = top_k(row, k)
    valid = np.isfinite(scores[0]) & ((scores[0] > 0) if positive_only else True)
    return pd.DataFrame(
        {
            ITEM_COL: item_ids.to_numpy()[items[0][valid]],
            SCORE_COL: scores[0][valid],
            RANK_COL: np.arange(1, int(valid.sum()) + 1),
        }
    )


class ItemToItem(Recommender):
    """Shared scoring, saving and ``similar_items`` for models with an item x item matrix."""

    def _score(self, rows: np.ndarray) -> np.ndarray:
        scores = self.history_[rows] @ self.weights_
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores)

    def similar_items(self, item_id, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to ``item_id``: frame ``item_id, score, rank``."""
        self._check_fitted()
        code = item_code(self.item_ids_, item_id)
        row = self.weights_[code]
        row = row.toarray() if sp.issparse(row) else np.asarray(row)
        return neighbours_frame(self.item_ids_, code, row, k)

    def _state(self) -> dict[str, np.ndarray]:
        if sp.issparse(self.weights_):
            w = self.weights_.tocsr()
            return {"w_data": w.data, "w_indices": w.indices, "w_indptr": w.indptr}
        return {"w_dense": self.weights_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        n = len(self.item_ids_)
        if "w_dense" in state:
            self.weights_ = state["w_dense"]
        else:
            self.weights_ = sp.csr_matrix(
                (state["w_data"], state["w_indices"], state["w_indptr"]), shape=(n, n)
            )
        self.history_ = binary(self.seen_)


@register
class ItemKNN(ItemToItem):
    """Item-kNN on co-occurrence: sparse, scales to large catalogues."""

    name = "item_knn"
    search_space = {"neighbours": [50, 100, 200, 400], "shrink": [0.0, 10.0, 50.0]}

    def __init__(self, neighbours: int = 200, shrink: float = 10.0, alpha: float = 0.5):
        self.neighbours, self.shrink, self.alpha = neighbours, shrink, alpha

    def _fit(self, data: TrainingData) -> None:
        self.history_ = binary(data.matrix)
        self.weights_ = knn_weights(self.history_, self.neighbours, self.shrink, self.alpha)


@register
class EASE(ItemToItem):
    """EASE: a ridge regression of every item on all others, solved in closed form.

    Usually the most accurate model here on catalogues up to ~20k items. Larger catalogues
    raise ``CatalogueTooLargeError`` or, with ``on_too_large="knn"``, fall back to item-kNN.
    """

    name = "ease"
    search_space = {"l2": [100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0, 1600.0]}

    def __init__(
        self,
        l2: float = 400.0,
        max_memory_gb: float | None = None,
        on_too_large: Literal["raise", "knn"] = "raise",
    ):
        self.l2, self.max_memory_gb, self.on_too_large = l2, max_memory_gb, on_too_large

    def memory_limit_bytes(self) -> int:
        if self.max_memory_gb is not None:
            return int(self.max_memory_gb * 2**30)
        return int(psutil.virtual_memory().available * 0.5)

    def _fit(self, data: TrainingData) -> None:
        if self.on_too_large not in ("raise", "knn"):
            raise ValueError(f"on_too_large must be 'raise' or 'knn', got {self.on_too_large!r}")
        self.history_ = binary(data.matrix)
        n = len(data.item_ids)
        need, limit = ease_bytes(n), self.memory_limit_bytes()
        self.method_ = "ease"
        if need > limit:
            if self.on_too_large == "raise":
                raise CatalogueTooLargeError(
                    f"EASE on {n:,} items needs about {need / 2**30:.1f} GiB "
                    f"({EASE_COPIES} dense {n:,}x{n:,} float64 arrays) but the limit is "
                    f"{limit / 2**30:.1f} GiB (max_memory_gb={self.max_memory_gb}). Use the "
                    "'item_knn' model, filter rare items, or pass on_too_large='knn'."
                )
            self.method_ = "knn"
            defaults = ItemKNN()
            self.weights_ = knn_weights(
                self.history_, defaults.neighbours, defaults.shrink, defaults.alpha
            )
            return
        self.weights_ = ease_weights(self.history_, self.l2)
