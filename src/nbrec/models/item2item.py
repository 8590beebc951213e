"""Item-to-item models on a sparse item x item matrix: item-kNN on co-occurrence.

They score a user as ``x_u @ W`` where ``x_u`` is the user's binary history and ``W`` an
item x item weight matrix, and answer ``similar_items(item_id, k)`` from a row of ``W``.
EASE and EDLAE live in ``nbrec.models.ease``, RP3beta in ``nbrec.models.rp3beta``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from nbrec.models.base import Recommender, TrainingData
from nbrec.models.registry import register
from nbrec.models.similarity import positive
from nbrec.models.space import FloatRange, IntRange
from nbrec.progress import bar

SIM_BYTES_PER_ENTRY = 40  # item-kNN: co-occurrence values, indices, row ids, scaled copies
BLOCK_ENTRIES = 1 << 26  # item-kNN: co-occurrence entries per block of rows (~2.5 GiB at most)


def binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The interaction matrix as 0/1 float32 (ratings only say 'seen')."""
    out = matrix.astype(np.float32, copy=True)
    out.data[:] = 1.0
    return out


def knn_weights(
    x: sp.csr_matrix, neighbours: int, shrink: float, alpha: float, block_entries: int | None = None
) -> sp.csr_matrix:  # fmt: skip
    """Asymmetric cosine similarity of item columns, top ``neighbours`` kept per item (sparse).

    sim(i, j) = c_ij / (n_i^alpha * n_j^(1 - alpha) + shrink), c the co-occurrence counts;
    alpha = 0.5 is plain cosine with shrinkage. Built in blocks of item rows whose
    co-occurrence bound stays under ``block_entries`` (default ``BLOCK_ENTRIES``): the full
    X'X of 1M users x 100k items would take tens of GiB, one block at a time a few.
    """
    limit = BLOCK_ENTRIES if block_entries is None else block_entries
    counts = np.asarray(x.sum(axis=0)).ravel().astype(np.float32)
    xt = x.T.tocsr()
    # Row i of X'X has at most sum over i's users of their item counts entries.
    user_counts = np.asarray(x.sum(axis=1)).ravel()
    bound = np.cumsum(xt @ user_counts)
    parts, lo, n = [], 0, x.shape[1]
    steps = bar(total=n, size=x.nnz, desc="item_knn: neighbours", unit="item")
    while lo < n:
        hi = max(lo + 1, int(np.searchsorted(bound, (bound[lo - 1] if lo else 0) + limit, "right")))
        hi = min(hi, n)
        co = (xt[lo:hi] @ x).tocsr().astype(np.float32)
        co.setdiag(0, k=lo)  # no item is its own neighbour
        co.eliminate_zeros()
        rows = np.repeat(np.arange(lo, hi), np.diff(co.indptr))
        denom = counts[rows] ** alpha * counts[co.indices] ** (1 - alpha) + shrink
        co.data = co.data / np.maximum(denom, 1e-9)
        parts.append(_keep_top(co, neighbours))
        steps.update(hi - lo)
        lo = hi
    steps.close()
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((n, n), dtype=np.float32)


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


class ItemToItem(Recommender):
    """Shared scoring, saving and ``similar_items`` for models with an item x item matrix."""

    def _score(self, rows: np.ndarray) -> np.ndarray:
        scores = self.history_[rows] @ self.weights_
        return scores.toarray() if sp.issparse(scores) else np.asarray(scores)

    def _score_sparse(self, rows: np.ndarray) -> sp.csr_matrix:
        """The same scores as a sparse matrix: ``top_k_rows`` ranks them without a dense row."""
        return sp.csr_matrix(self.history_[rows] @ self.weights_)

    def _item_similarity(self, codes: np.ndarray) -> np.ndarray:
        """Rows of the item x item weights (``similar_items`` answers from ``W``)."""
        return positive(self.weights_[codes])

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
    search_space: ClassVar[dict] = {
        "neighbours": IntRange(10, 1000, log=True),
        "shrink": FloatRange(0.0, 200.0),
    }

    def __init__(self, neighbours: int = 200, shrink: float = 10.0, alpha: float = 0.5):
        self.neighbours, self.shrink, self.alpha = neighbours, shrink, alpha

    def _fit(self, data: TrainingData) -> None:
        self.history_ = binary(data.matrix)
        self.weights_ = knn_weights(self.history_, self.neighbours, self.shrink, self.alpha)

    @classmethod
    def memory_bytes(cls, shape, params: dict) -> int:
        """A block of X'X rows and its scaled copies, the transposed matrix, the neighbours."""
        neighbours = int(params.get("neighbours", cls().neighbours))
        block = min(shape.cooccurrence, BLOCK_ENTRIES)
        return SIM_BYTES_PER_ENTRY * block + 12 * shape.nnz + 16 * shape.n_items * neighbours
