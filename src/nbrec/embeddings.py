"""Request-time scoring vectors: one type, written by a model, stored, and scored by the service.

A user described only by side features f (names in ``user_feature_names``) scores item i as
``(sum of user_feature_vectors[f]) . item_vectors[i] + item_bias[i]``: that is how a cold-start
user who brings only features is served. Hybrid models (LightFM) return an ``Embeddings`` from
``Recommender.embeddings()``; ``nbrec.pipeline.publish`` stores it as it is; the feature store
reads it back; the service's ``LoadedVersion`` scores with :meth:`Embeddings.scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Embeddings:
    """Vectors of one fitted model; rows of ``item_vectors`` and ``item_bias`` follow ``item_ids``."""

    item_ids: list[str]
    item_vectors: np.ndarray  # n_items x d
    item_bias: np.ndarray  # n_items
    user_feature_names: list[str]
    user_feature_vectors: np.ndarray  # n_user_features x d

    def feature_rows(self, names: Sequence[str]) -> np.ndarray:
        """Rows of ``user_feature_vectors`` for ``names``; names the model does not know are skipped."""
        index = {name: row for row, name in enumerate(self.user_feature_names)}
        return np.asarray([index[n] for n in names if n in index], dtype=np.int64)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Every item's score for a user with the features at ``rows`` (one dot product)."""
        user = self.user_feature_vectors[rows].sum(axis=0)
        return self.item_vectors @ user + self.item_bias
