"""Side tables to sparse feature matrices (one-hot categories, multi-valued '|' lists)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

MAX_CATEGORIES = 1_000  # a column with more distinct values than this is not a category


def feature_columns(table: pd.DataFrame, key: str) -> list[str]:
    """Columns usable as categorical features: text-like, fewer than MAX_CATEGORIES values."""
    cols = []
    for col in table.columns:
        if col == key or pd.api.types.is_datetime64_any_dtype(table[col]):
            continue
        if pd.api.types.is_numeric_dtype(table[col]) and table[col].nunique() > 50:
            continue
        if table[col].nunique() <= MAX_CATEGORIES:
            cols.append(col)
    return cols


def one_hot(table: pd.DataFrame, columns: list[str]) -> tuple[sp.csr_matrix, list[str]]:
    """One row per table row, in order; a column per ``col=value``. '|' separates several values."""
    if not columns:
        return sp.csr_matrix((len(table), 0), dtype=np.float32), []
    row_parts, col_parts, names = [], [], []
    for col in columns:
        # Rows by position: the table's own index may be anything (filtered, shuffled, labels).
        values = table[col].astype("string").fillna("").reset_index(drop=True)
        exploded = values.str.split("|").explode()
        exploded = exploded[exploded.str.len() > 0]
        codes, uniques = pd.factorize(exploded, sort=True)
        row_parts.append(exploded.index.to_numpy())
        col_parts.append(codes + len(names))
        names.extend(f"{col}={u}" for u in uniques)
    rows, cols = np.concatenate(row_parts), np.concatenate(col_parts)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(table), len(names))
    )
    matrix.data[:] = 1.0  # a repeated value counts once
    return matrix, names
