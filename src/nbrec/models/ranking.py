"""Ranking helpers shared by every model: top-k per row, exclusion of seen items, the frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL, USER_COL


def exclude(scores: np.ndarray, seen: sp.csr_matrix) -> None:
    """Set ``scores`` to -inf in place where ``seen`` (same rows and columns) has an entry."""
    scores[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr)), seen.indices] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest scores per row, best first (-inf means excluded)."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _frame(
    users: np.ndarray, item_ids: pd.Index, items: np.ndarray, scores: np.ndarray
) -> pd.DataFrame:
    k = items.shape[1]
    valid = np.isfinite(scores).ravel()
    return pd.DataFrame(
        {
            USER_COL: np.repeat(users, k)[valid],
            ITEM_COL: item_ids.to_numpy()[items.ravel()][valid],
            SCORE_COL: scores.ravel()[valid],
            RANK_COL: np.tile(np.arange(1, k + 1), len(users))[valid],
        }
    )
