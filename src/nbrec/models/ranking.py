"""Ranking helpers shared by every model: top-k per row, exclusion of seen items, the frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL, USER_COL


def exclude(scores: np.ndarray, seen: sp.csr_matrix) -> None:
    """Set ``scores`` to -inf in place where ``seen`` (same rows and columns) has an entry."""
    scores[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr)), seen.indices] = -np.inf


BLOCK = 64  # top_k: items per block whose maximum is taken first


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest scores per row, best first (-inf means excluded).

    On wide rows the k largest items lie in the k blocks of ``BLOCK`` items with the largest
    maxima (any item outside them is beaten by k block maxima), so the partition runs over
    the block maxima and ``k * BLOCK`` candidates, not the whole row."""
    n = scores.shape[1]
    k = min(k, n)
    n_blocks = n // BLOCK
    if n_blocks > 4 * k:
        full = scores[:, : n_blocks * BLOCK]
        maxima = full.reshape(len(scores), n_blocks, BLOCK).max(axis=2)
        best = np.argpartition(-maxima, k - 1, axis=1)[:, :k]
        cand = (best[:, :, None] * BLOCK + np.arange(BLOCK)).reshape(len(scores), -1)
        cand = np.hstack(
            [
                cand,
                np.broadcast_to(
                    np.arange(n_blocks * BLOCK, n), (len(scores), n - n_blocks * BLOCK)
                ),
            ]
        )
        part = np.take_along_axis(
            cand, _largest(np.take_along_axis(scores, cand, axis=1), k), axis=1
        )
    elif k < n:
        part = _largest(scores, k)
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _largest(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest values per row, in no order."""
    if k >= scores.shape[1]:
        return np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


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
