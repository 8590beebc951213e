"""``TrainingData``: what a model's ``_fit`` receives, the user x item matrix already built."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, USER_COL, WEIGHT_COL


@dataclass
class TrainingData:
    """What ``_fit`` receives: the matrix and the frames, aligned to integer codes.

    ``matrix[u, i]`` is the (deduplicated, max) weight of user code u on item code i.
    ``interactions`` carries the codes in columns ``user_code`` and ``item_code``.
    ``items`` / ``users`` are side tables reindexed to the codes (rows of NaN where a side
    table lacks an id), or None.
    """

    matrix: sp.csr_matrix
    interactions: pd.DataFrame
    user_ids: pd.Index
    item_ids: pd.Index
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None

    @classmethod
    def build(
        cls, interactions: pd.DataFrame, items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
    ) -> TrainingData:  # fmt: skip
        if len(interactions) == 0:
            raise ValueError("cannot fit on zero interactions")
        user_codes, user_ids = pd.factorize(interactions[USER_COL], sort=True)
        item_codes, item_ids = pd.factorize(interactions[ITEM_COL], sort=True)
        weights = (
            interactions[WEIGHT_COL].to_numpy(dtype=np.float32)
            if WEIGHT_COL in interactions
            else np.ones(len(interactions), dtype=np.float32)
        )
        matrix = sp.coo_matrix(
            (weights, (user_codes, item_codes)), shape=(len(user_ids), len(item_ids))
        ).tocsr()
        # coo->csr sums duplicates; the documented rule is "max weight", so recompute maxima.
        if matrix.nnz < len(interactions):
            order = np.lexsort((weights, item_codes, user_codes))
            last = np.r_[
                (np.diff(user_codes[order]) != 0) | (np.diff(item_codes[order]) != 0), True
            ]
            keep = order[last]
            matrix = sp.csr_matrix(
                (weights[keep], (user_codes[keep], item_codes[keep])),
                shape=(len(user_ids), len(item_ids)),
            )
        matrix.sort_indices()
        frame = interactions.assign(user_code=user_codes, item_code=item_codes)
        return cls(
            matrix=matrix,
            interactions=frame,
            user_ids=pd.Index(user_ids.astype(str), name=USER_COL),
            item_ids=pd.Index(item_ids.astype(str), name=ITEM_COL),
            items=_aligned(items, ITEM_COL, item_ids),
            users=_aligned(users, USER_COL, user_ids),
        )


def _aligned(table: pd.DataFrame | None, key: str, ids: pd.Index) -> pd.DataFrame | None:
    if table is None:
        return None
    return table.set_index(table[key].astype(str)).reindex(ids.astype(str)).reset_index(drop=True)
