"""The ``recommendations`` suite's frame at scale: built from model codes, not id strings.

``recommendation_frame`` joins id strings (the seen pairs, the catalogue): fine for a live
check of a few thousand users, seconds per million rows at scale. The training run already
holds every user's top-N as codes into the model's users and items, and the model holds the
training pairs as a sparse matrix in the same codes, so every derived column is a numpy
operation on integer arrays. The frame GX validates then has the same columns with
``user_id`` and ``item_id`` as codes (float, NaN where the id was null; an id the model does
not know gets its own negative code), so uniqueness and coverage are counted exactly as on
the ids, on every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, SCORE_COL, USER_COL
from nbrec.sparse_keys import in_sorted, sorted_keys


def codes_of(ids: pd.Series, known: pd.Index) -> np.ndarray:
    """Codes of ``ids`` in ``known`` as float: NaN for nulls, -1, -2, ... per unknown id."""
    values = ids.astype(object)
    null = values.isna().to_numpy()
    present = values.where(~null, "") if null.any() else values
    codes = known.get_indexer(pd.Index(present.astype(str), dtype=object)).astype(np.float64)
    unknown = (codes < 0) & ~null
    if unknown.any():
        codes[unknown] = -1.0 - pd.factorize(values[unknown])[0]
    codes[null] = np.nan
    return codes


def seen_mask(rows: np.ndarray, cols: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """Whether ``seen`` has an entry at each (row, col); rows or cols < 0 are never seen."""
    width = np.int64(seen.shape[1])
    valid = (rows >= 0) & (cols >= 0)
    query = rows.astype(np.int64) * width + cols.astype(np.int64)
    found = np.zeros(len(query), dtype=bool)
    found[valid] = in_sorted(query[valid], sorted_keys(seen))
    return found


def coded_frame(
    user_codes: np.ndarray, item_codes: np.ndarray, scores: np.ndarray, seen: sp.csr_matrix,
    k: int,
) -> pd.DataFrame:  # fmt: skip
    """The columns the ``recommendations`` suite checks, from codes (see the module doc).

    ``seen`` is users x items in the same codes (the model's ``seen_``); a user's list may be
    shorter than k only when fewer than k unseen items are left."""
    n_users, n_items = seen.shape
    users = np.asarray(user_codes, dtype=np.float64)
    items = np.asarray(item_codes, dtype=np.float64)
    rows = np.where(np.isnan(users), -1, users).astype(np.int64)
    cols = np.where(np.isnan(items), -1, items).astype(np.int64)
    known = (rows >= 0) & (rows < n_users)
    _, inverse, counts = np.unique(
        np.where(np.isnan(users), np.inf, users), return_inverse=True, return_counts=True
    )
    per_user = np.where(np.isnan(users), np.nan, counts[inverse])  # a null user: no count
    n_seen = np.zeros(len(rows), dtype=np.int64)
    n_seen[known] = np.diff(seen.indptr)[rows[known]]
    return pd.DataFrame({
        USER_COL: users, ITEM_COL: items, SCORE_COL: np.asarray(scores, dtype=np.float64),
        "in_catalogue": (cols >= 0) & (cols < n_items),
        "seen_in_training": seen_mask(np.where(known, rows, -1), cols, seen),
        "recs_for_user": per_user,
        "recs_short": per_user < np.minimum(k, n_items - n_seen),
    })  # fmt: skip
