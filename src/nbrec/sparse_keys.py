"""Whether (row, col) pairs are entries of a sparse matrix: each pair as one integer key
``row * n_cols + col``, looked up by binary search in the matrix's keys, sorted.

Used where millions of pairs are checked against a users x items matrix at once (seen items
when ranking sparse scores, recommendation checks on codes, held-out hits in tuning).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def sorted_keys(matrix: sp.csr_matrix) -> np.ndarray:
    """``row * n_cols + col`` of every entry of ``matrix``, ascending (int64)."""
    matrix = matrix if matrix.has_sorted_indices else matrix.sorted_indices()
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return rows * np.int64(matrix.shape[1]) + matrix.indices


def in_sorted(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Boolean array shaped like ``values``: whether each value is in ``keys`` (ascending)."""
    if not len(keys):
        return np.zeros(np.shape(values), dtype=bool)
    at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return keys[at] == values
