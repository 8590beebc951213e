"""Peer implementations run on nbrec's identical split: Cornac's BPR and EASE.

Benchmark-only code (Cornac is in the ``bench`` extra). Each peer is fitted on the same
training frame and its top-k, with training items excluded, is scored by nbrec's own
``evaluate`` so the rows are comparable.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

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
    item_ids = np.array(list(data.iid_map.keys()))  # position = Cornac's item index
    item_index = pd.Index(item_ids)
    user_index = pd.Index(list(data.uid_map.keys()))
    seen = sp.csr_matrix(
        (np.ones(len(train)), (user_index.get_indexer(train[USER_COL].astype(str)),
                               item_index.get_indexer(train[ITEM_COL].astype(str)))),
        shape=(len(user_index), len(item_index)),
    )  # fmt: skip
    users = [u for u in map(str, users) if u in data.uid_map]
    rows = np.array([data.uid_map[u] for u in users])
    scores = np.vstack([np.asarray(model.score(int(u)), dtype=np.float32) for u in rows])
    mask = seen[rows]
    scores[np.repeat(np.arange(len(rows)), np.diff(mask.indptr)), mask.indices] = -np.inf
    idx, vals = top_k(scores, k)
    recs = pd.DataFrame(
        {
            USER_COL: np.repeat(users, idx.shape[1]),
            ITEM_COL: item_ids[idx.ravel()],
            SCORE_COL: vals.ravel(),
            RANK_COL: np.tile(np.arange(1, idx.shape[1] + 1), len(users)),
        }
    )
    score_seconds = time.perf_counter() - start
    return recs, fit_seconds, score_seconds
