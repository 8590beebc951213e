"""EASE on a Gram matrix that also counts items used close together in time.

EASE (Steck 2019) regresses every item on the others through the Gram matrix ``G = X'X``:
two items count as related when a user holds both, however far apart in time. Items a user
took within minutes of each other (one session, one sitting, one page of a rating interface)
are much stronger evidence of relatedness; time-decayed co-occurrence is the core of
session-based neighbourhood models (Ding & Li 2005, "Time weight collaborative filtering",
CIKM; Ludewig & Jannach 2018, "Evaluation of session-based recommendation algorithms",
UMUAI). ``time_ease`` solves EASE's closed form with

    G = X'X + session_weight * sum_u X_u' K_u X_u,   K_u[i, j] = exp(-|t_ui - t_uj| / time_scale)

(the Laplacian kernel is positive definite, so G stays positive semi-definite): ``B = I - P
diagMat(1/diag(P))``, ``P = (G + l2 I)^-1``. Scoring is EASE's ``x B`` on the binary history,
so it needs no time at request time. Pairs further apart than ``CUTOFF`` scales are dropped
(weight < 1e-4). Without timestamps (or ``session_weight`` 0) it is EASE. The kernel term
has no users x users factorisation, so the fit is one dense items x items inverse (float32):
memory like EASE's dense route, time about one such inverse per trial.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import TIMESTAMP_COL
from nbrec.models.base import TrainingData
from nbrec.models.ease import EASE_COPIES, LinearAutoencoder
from nbrec.models.item2item import binary
from nbrec.models.linear import spd_inverse
from nbrec.models.registry import register
from nbrec.models.space import FloatRange

CUTOFF = 9.2  # kernel scales beyond which a pair is dropped: exp(-9.2) ~ 1e-4
BLOCK = 2048  # rows of one user's kernel computed at once


def seconds(data: TrainingData) -> np.ndarray | None:
    """Event times in seconds (float64), or None when the frame has no usable timestamps."""
    frame = data.interactions
    if TIMESTAMP_COL not in frame or frame[TIMESTAMP_COL].isna().any():
        return None
    stamps = frame[TIMESTAMP_COL]
    if pd.api.types.is_numeric_dtype(stamps):
        return stamps.to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(stamps, utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def time_gram(data: TrainingData, time_scale: float) -> sp.csr_matrix | None:
    """``sum_u X_u' K_u X_u`` (items x items; its diagonal is the item counts, which keeps it
    positive semi-definite), pairs beyond ``CUTOFF`` dropped. A user's repeated events on one
    item keep the latest (the matrix is binary)."""
    ts = seconds(data)
    if ts is None:
        return None
    if time_scale <= 0:
        raise ValueError(f"time_scale must be > 0, got {time_scale}")
    users = data.interactions["user_code"].to_numpy()
    items = data.interactions["item_code"].to_numpy()
    order = np.lexsort((ts, items, users))
    users, items, ts = users[order], items[order], ts[order]
    last = np.r_[(np.diff(users) != 0) | (np.diff(items) != 0), True]
    users, items, ts = users[last], items[last], ts[last]
    bounds = np.r_[0, np.flatnonzero(np.diff(users)) + 1, len(users)]
    rows, cols, vals = [], [], []
    reach = CUTOFF * time_scale
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        it, tt = items[lo:hi], ts[lo:hi]
        for start in range(0, hi - lo, BLOCK):
            gap = np.abs(tt[start : start + BLOCK, None] - tt[None, :])
            r, c = np.nonzero(gap < reach)
            r = r + start
            rows.append(it[r])
            cols.append(it[c])
            vals.append(np.exp(-gap[r - start, c] / time_scale))
    n = data.matrix.shape[1]
    if not rows:
        return sp.csr_matrix((n, n))
    return sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()


@register
class TimeEASE(LinearAutoencoder):
    """EASE whose Gram matrix also counts items used close together in time (module
    docstring): a user's session is stronger evidence than a lifetime. Needs timestamps
    (EASE without them); one dense items x items inverse per fit."""

    name = "time_ease"
    search_space: ClassVar[dict] = {
        "l2": FloatRange(50.0, 5000.0, log=True),
        "session_weight": FloatRange(0.1, 5.0, log=True),
        "time_scale": FloatRange(60.0, 86400.0, log=True),
    }

    def __init__(
        self,
        l2: float = 400.0,
        session_weight: float = 1.0,
        time_scale: float = 900.0,
        max_memory_gb: float | None = None,
    ):
        self.l2, self.session_weight, self.time_scale = l2, session_weight, time_scale
        self.max_memory_gb, self.on_too_large = max_memory_gb, "raise"

    @classmethod
    def memory_bytes(cls, shape, params: dict) -> int:
        """The dense route always: ``EASE_COPIES`` items x items arrays."""
        return EASE_COPIES * shape.n_items * shape.n_items * 8

    @classmethod
    def fit_flops(cls, shape, params: dict) -> float:
        """One dense items x items Cholesky inverse (``items**3``; ``nbrec.models.cost``)."""
        return float(shape.n_items) ** 3

    def _fit(self, data: TrainingData) -> None:
        from nbrec.models.ease import CatalogueTooLargeError

        if self.l2 <= 0 or self.session_weight < 0:
            raise ValueError("l2 must be > 0 and session_weight >= 0")
        self.history_ = binary(data.matrix)
        n = self.history_.shape[1]
        need, limit = EASE_COPIES * n * n * 4, self.memory_limit_bytes()
        if need > limit:
            raise CatalogueTooLargeError(
                f"time_ease on {n:,} items needs about {need / 2**30:.1f} GiB but the limit is "
                f"{limit / 2**30:.1f} GiB; use 'ease' (factored) or 'rp3beta'."
            )
        x = sp.csr_matrix(self.history_, dtype=np.float32)
        gram = (x.T @ x).toarray()
        extra = time_gram(data, float(self.time_scale)) if self.session_weight > 0 else None
        self.used_time_ = extra is not None
        if extra is not None:
            extra = extra.tocoo()  # duplicates summed by tocsr: one entry per pair, no dense copy
            gram[extra.row, extra.col] += np.float32(self.session_weight) * extra.data
        gram[np.diag_indices_from(gram)] += np.float32(self.l2)
        p = spd_inverse(gram)
        p /= -np.diag(p).copy()[None, :]
        np.fill_diagonal(p, 0.0)
        self.dense_, self.factored_, self.method_ = p, None, self.name
