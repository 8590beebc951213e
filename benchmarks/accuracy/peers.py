"""Peer implementations run on nbrec's identical split: Cornac's BPR and EASE.

Benchmark-only code (Cornac is in the ``bench`` extra). Each peer is fitted on the same
training frame and its top-k, with training items excluded, is scored by nbrec's own
``evaluate`` so the rows are comparable.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from nbrec.constants import DEFAULT_SEED, ITEM_COL, RANK_COL, SCORE_COL, USER_COL
from nbrec.models import top_k

# Cornac BPR as in Microsoft Recommenders' MovieLens benchmark (its published row: NDCG@10 0.445).
PEERS = {
    "cornac_bpr": ("BPR", {"k": 200, "max_iter": 100, "learning_rate": 0.01, "lambda_reg": 0.001}),
    "cornac_ease": ("EASE", {"lamb": 500, "posB": False}),
}


def run_peer(
    name: str, train: pd.DataFrame, users, k: int, seed: int = DEFAULT_SEED
) -> tuple[pd.DataFrame, float, float]:
    """(recommendations, fit seconds, scoring seconds) of a Cornac model on ``train``."""
    import cornac

    cls_name, params = PEERS[name]
    extra = {"seed": seed, "verbose": False}
    if cls_name == "BPR":
        extra["num_threads"] = 2
    model = getattr(cornac.models, cls_name)(**params, **extra)
    triples = list(
        zip(
            train[USER_COL].astype(str),
            train[ITEM_COL].astype(str),
            np.ones(len(train)),
            strict=True,
        )
    )
    start = time.perf_counter()
    data = cornac.data.Dataset.from_uir(triples, seed=seed)
    model.fit(data)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    item_ids = np.array(list(data.iid_map.keys()))
    seen = train.groupby(USER_COL)[ITEM_COL].agg(set)
    frames = []
    for user in users:
        u = data.uid_map.get(str(user))
        if u is None:
            continue
        scores = np.asarray(model.score(u), dtype=np.float32).reshape(1, -1).copy()
        mask = np.isin(item_ids, list(seen.get(user, ())))
        scores[0, mask] = -np.inf
        idx, vals = top_k(scores, k)
        frames.append(
            pd.DataFrame(
                {
                    USER_COL: user,
                    ITEM_COL: item_ids[idx[0]],
                    SCORE_COL: vals[0],
                    RANK_COL: np.arange(1, k + 1),
                }
            )
        )
    score_seconds = time.perf_counter() - start
    return pd.concat(frames, ignore_index=True), fit_seconds, score_seconds
