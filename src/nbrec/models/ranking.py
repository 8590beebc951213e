"""Ranking helpers shared by every model: top-k per row, exclusion of seen items, the frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL, USER_COL
from nbrec.sparse_keys import in_sorted, sorted_keys


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


def top_k_sparse(
    scores: sp.csr_matrix, seen: sp.csr_matrix | None, k: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """``top_k`` of non-negative sparse score rows without densifying them (item-to-item
    models score a user on a few thousand of 100k items): the positive unseen entries, best
    first, then zero-score unseen items by code to fill k. The scores
    equal the dense path's; which of several equal scores is kept may differ. None when the
    batch needs the dense path: a negative or non-finite score, or a row with fewer than k
    unseen items (the dense path then lists seen ones at -inf)."""
    scores = sp.csr_matrix(scores)
    if not scores.has_canonical_format:
        scores.sum_duplicates()
    n_rows, n = scores.shape
    k = min(k, n)
    data = scores.data
    if len(data) and not (np.isfinite(data).all() and data.min() >= 0):
        return None
    counts = np.diff(scores.indptr)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
    cols = scores.indices.astype(np.int64)
    vals = data.astype(np.float32)
    drop = vals <= 0
    if seen is not None and seen.nnz:
        drop |= in_sorted(rows * n + cols, sorted_keys(seen))
    vals[drop] = -np.inf
    # The row's entries side by side in a narrow dense block (width: the longest row), ranked
    # by the dense top_k; -inf pads and marks what is excluded.
    width = max(int(counts.max(initial=0)), 1)
    at = np.arange(len(rows)) - np.repeat(scores.indptr[:-1], counts)
    block = np.full((n_rows, width), -np.inf, dtype=np.float32)
    block[rows, at] = vals
    where = np.zeros((n_rows, width), dtype=np.int64)
    where[rows, at] = cols
    best, out = top_k(block, min(k, width))
    items = np.full((n_rows, k), -1, dtype=np.int64)
    found = np.isfinite(out)
    items[:, : best.shape[1]][found] = np.take_along_axis(where, best, axis=1)[found]
    out = np.pad(np.where(found, out, 0), ((0, 0), (0, k - out.shape[1])))
    for r in np.flatnonzero(items[:, -1] < 0):  # fewer than k positive unseen scores
        have = items[r][items[r] >= 0]
        out[r, len(have) :] = 0.0
        seen_r = () if seen is None else seen.indices[seen.indptr[r] : seen.indptr[r + 1]]
        taken = np.concatenate([np.asarray(seen_r, dtype=np.int64), have])
        fill = np.arange(min(n, k + len(taken)))
        fill = fill[~np.isin(fill, taken)][: k - len(have)]
        if len(fill) < k - len(have):
            return None
        items[r, len(have) :] = fill
    return items, out


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
