"""Held-out interactions prepared once, for scoring many models on them quickly (tuning).

``metrics.accuracy(model.recommend(users, k), frame, k)`` builds frames and matches item ids
as strings for every model; a tuning study scores dozens of models on one validation frame.
``HeldOut`` does the frame work once (users split into parts, each part's relevant items as
sorted integer keys, the number relevant per user) and scores a fitted model from its top-k
item codes (``Recommender.top_k_rows``): the same figures as ``accuracy`` (every held-out
interaction relevant, training items excluded, unknown users given the model's cold-start
list), with no frame per model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.constants import ITEM_COL, RANK_COL, USER_COL
from nbrec.evaluation.metrics import ranking_metrics
from nbrec.sparse_keys import in_sorted


class HeldOut:
    """The held-out frame ``frame`` (``user_id, item_id``) in ``parts`` parts of its users
    (``np.array_split`` of the users in order of appearance, as ``tuning.chunked_score``)."""

    def __init__(self, frame: pd.DataFrame, parts: int = 1):
        pairs = frame[[USER_COL, ITEM_COL]].astype(str).drop_duplicates()
        user_codes, self.users = pd.factorize(pairs[USER_COL])
        item_codes, self.items = pd.factorize(pairs[ITEM_COL])
        self.n_relevant = np.bincount(user_codes, minlength=len(self.users))
        self.keys = np.sort(user_codes.astype(np.int64) * len(self.items) + item_codes)
        self.parts = np.array_split(np.arange(len(self.users)), min(parts, len(self.users)))

    def score(self, model, k: int, metric: str = "ndcg", report=None) -> float:
        """Mean ``metric@k`` of the fitted ``model`` over the held-out users; ``report(step,
        running mean)`` after each part (it may raise to stop, e.g. ``optuna.TrialPruned``)."""
        item_map = self.items.get_indexer(pd.Index(model.item_ids_))  # model code -> ours, -1
        total, seen = 0.0, 0
        for step, part in enumerate(self.parts):
            hits = self.hits(model, part, item_map, k)
            total += float(ranking_metrics(hits, self.n_relevant[part])[metric].sum())
            seen += len(part)
            if report is not None:
                report(step, total / seen)
        return total / max(seen, 1)

    def hits(self, model, part: np.ndarray, item_map: np.ndarray, k: int) -> np.ndarray:
        """``hits[u, r] = 1`` if the rank ``r + 1`` item of user ``part[u]`` is relevant."""
        k = min(k, len(model.item_ids_))
        ours = np.full((len(part), k), -1, dtype=np.int64)  # our item codes, -1: no hit
        rows = model.user_rows(self.users[part])
        known = rows >= 0
        if known.any():
            codes, scores = model.top_k_rows(rows[known], k)
            ours[known] = np.where(np.isfinite(scores), item_map[codes], -1)
        if not known.all():  # unknown users: the model's own answer (cold start or nothing)
            recs = model.recommend(self.users[part][~known], k=k)
            local = pd.Index(self.users[part][~known]).get_indexer(recs[USER_COL])
            items = self.items.get_indexer(recs[ITEM_COL].astype(str))
            block = ours[~known]
            block[local, recs[RANK_COL].to_numpy() - 1] = items
            ours[~known] = block
        keys = part[:, None].astype(np.int64) * len(self.items) + ours
        return (in_sorted(keys, self.keys) & (ours >= 0)).astype(np.float64)
