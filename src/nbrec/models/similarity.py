"""``similar_items``: the items most like an item, for every model (the base class's part).

A model says how alike items are in ``_item_similarity(codes)`` (rows: the given items,
columns: every item; -inf where items are not similar). The default is the cosine of
co-occurrence (items seen by the same users), which any fitted model can compute from what it
saw in training; a model with a better notion (item x item weights, item vectors) overrides it.
``similar_rows`` is what publishing uses, block by block; ``similar_items`` answers one item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import DEFAULT_K, ITEM_COL, RANK_COL, SCORE_COL
from nbrec.errors import UnknownNameError
from nbrec.models.ranking import top_k


def item_code(item_ids: pd.Index, item_id) -> int:
    """Position of ``item_id`` in the catalogue; an error naming it when absent."""
    code = int(item_ids.get_indexer([str(item_id)])[0])
    if code < 0:
        raise UnknownNameError(
            f"item {item_id!r} is not in the model's catalogue ({len(item_ids)} items)"
        )
    return code


def positive(rows) -> np.ndarray:
    """Dense float32 rows with every entry <= 0 turned to -inf (not similar)."""
    rows = rows.toarray() if sp.issparse(rows) else np.array(rows, dtype=np.float32, copy=True)
    rows = rows.astype(np.float32, copy=False)
    rows[~(rows > 0)] = -np.inf
    return rows


def cosine_rows(vectors: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Cosine of the vectors of items ``codes`` with every item's vector."""
    norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
    return (vectors[codes] @ vectors.T) / (norms[codes, None] * norms[None, :])


class SimilarItems:
    """The ``similar_items`` part of ``Recommender`` (needs ``seen_`` and ``item_ids_``)."""

    def _item_similarity(self, codes: np.ndarray) -> np.ndarray:
        """Default: cosine of the binary co-occurrence columns of the training interactions."""
        found = getattr(self, "_cooccurrence_", None)
        if found is None or found[0] is not self.seen_:
            seen = (self.seen_ > 0).astype(np.float32).tocsc()
            norms = np.sqrt(np.asarray(seen.sum(axis=0)).ravel())
            norms[norms == 0] = 1.0
            found = self._cooccurrence_ = (self.seen_, seen, norms)
        _, seen, norms = found
        block = (seen[:, codes].T @ seen).toarray()
        return positive(block / (norms[codes, None] * norms[None, :]))

    def similar_rows(self, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` similar item codes and scores per item of ``codes`` (itself excluded;
        -inf: fewer than ``k`` similar items)."""
        codes = np.asarray(codes, dtype=np.int64)
        rows = np.array(self._item_similarity(codes), dtype=np.float32, copy=True)
        rows[~np.isfinite(rows)] = -np.inf
        rows[np.arange(len(codes)), codes] = -np.inf  # an item is not its own neighbour
        return top_k(rows, k)

    def similar_items(self, item_id, k: int = DEFAULT_K) -> pd.DataFrame:
        """The ``k`` items most similar to ``item_id``: frame ``item_id, score, rank``."""
        self._check_fitted()
        codes, scores = self.similar_rows(np.array([item_code(self.item_ids_, item_id)]), k)
        valid = np.isfinite(scores[0])
        return pd.DataFrame(
            {
                ITEM_COL: self.item_ids_.to_numpy()[codes[0][valid]],
                SCORE_COL: scores[0][valid],
                RANK_COL: np.arange(1, int(valid.sum()) + 1),
            }
        )
