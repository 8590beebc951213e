"""Ranking and beyond-accuracy metrics, vectorised over all users at once.

Inputs are frames: recommendations (``user_id, item_id, rank``) and relevant test
interactions (``user_id, item_id``). Every test interaction counts as relevant. Users who
have test interactions but no recommendations score zero. Averages are over test users.

Definitions at cut-off k, for a user with R relevant items and hits h_1..h_k (0/1):
- precision = sum(h) / k;  recall = sum(h) / R;  hit rate = 1 if any hit
- NDCG = sum(h_i / log2(i + 1)) / IDCG, IDCG the same for min(R, k) hits at the top
- MAP = sum(precision@i * h_i) / min(R, k)   (so a perfect list scores 1)
- MRR = 1 / rank of the first hit (0 without one)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nbrec.constants import DEFAULT_K, ITEM_COL, RANK_COL, USER_COL

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def hit_matrix(recs: pd.DataFrame, test: pd.DataFrame, k: int = DEFAULT_K):
    """(hits, n_relevant, test_users): hits[u, r] = 1 if the rank r+1 item of user u is relevant."""
    test = test[[USER_COL, ITEM_COL]].drop_duplicates()
    user_codes, users = pd.factorize(test[USER_COL])
    n_relevant = np.bincount(user_codes, minlength=len(users))
    recs = recs[recs[RANK_COL] <= k]
    rec_users = users.get_indexer(recs[USER_COL])
    keep = rec_users >= 0
    rec_users, recs = rec_users[keep], recs[keep]
    items = pd.Index(pd.unique(pd.concat([test[ITEM_COL], recs[ITEM_COL]], ignore_index=True)))
    n_items = len(items)
    test_keys = user_codes.astype(np.int64) * n_items + items.get_indexer(test[ITEM_COL])
    rec_keys = rec_users.astype(np.int64) * n_items + items.get_indexer(recs[ITEM_COL])
    hits = np.zeros((len(users), k), dtype=np.float64)
    hits[rec_users, recs[RANK_COL].to_numpy() - 1] = np.isin(rec_keys, test_keys)
    return hits, n_relevant, users


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user metrics from a hit matrix (users x k)."""
    k = hits.shape[1]
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.clip(np.minimum(n_relevant, k), 1, k) - 1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.maximum(n_relevant, 1)
        return {
            "precision": n_hits / k,
            "recall": n_hits / rel,
            "ndcg": (hits * discounts).sum(axis=1) / ideal,
            "map": (precision_at * hits).sum(axis=1) / np.minimum(rel, k),
            "mrr": 1.0 / first,
            "hit_rate": (n_hits > 0).astype(float),
        }


def accuracy(recs: pd.DataFrame, test: pd.DataFrame, k: int = DEFAULT_K) -> dict[str, float]:
    """Mean ranking metrics at k over the users in ``test``: {"ndcg@10": ..., ...}."""
    hits, n_relevant, _ = hit_matrix(recs, test, k)
    per_user = ranking_metrics(hits, n_relevant)
    return {f"{name}@{k}": float(per_user[name].mean()) for name in RANKING_METRICS}


def catalog_coverage(recs: pd.DataFrame, catalog_size: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    return recs[ITEM_COL].nunique() / max(catalog_size, 1)


def novelty(recs: pd.DataFrame, train: pd.DataFrame) -> float:
    """Mean self-information -log2(p(i)), p(i) the share of training users who had item i."""
    n_users = train[USER_COL].nunique()
    users_per_item = train.groupby(ITEM_COL, observed=True)[USER_COL].nunique()
    p = users_per_item.reindex(recs[ITEM_COL]).fillna(1).to_numpy() / max(n_users, 1)
    return float(np.mean(-np.log2(np.clip(p, 1e-12, 1)))) if len(p) else 0.0


def intra_list_diversity(
    recs: pd.DataFrame, features: sp.csr_matrix, feature_items: pd.Index
) -> float:
    """Mean over lists of the mean pairwise cosine distance between item feature vectors.

    Uses sum_{a<b} cos(a, b) = (|sum f|^2 - sum |f|^2) / 2 for unit vectors f: O(n k d).
    Items without features are left out of their list.
    """
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    unit = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ features
    rows = feature_items.get_indexer(recs[ITEM_COL])
    known = (rows >= 0) & (norms[np.maximum(rows, 0)] > 0)
    user_codes, _ = pd.factorize(recs[USER_COL][known])
    if len(user_codes) == 0:
        return float("nan")
    members = sp.csr_matrix(
        (np.ones(len(user_codes)), (user_codes, np.arange(len(user_codes)))),
        shape=(user_codes.max() + 1, len(user_codes)),
    )
    sums = members @ unit[rows[known]]
    sq_norm_of_sum = np.asarray(sums.multiply(sums).sum(axis=1)).ravel()
    n = np.bincount(user_codes)
    pairs = n * (n - 1) / 2
    valid = pairs > 0
    mean_sim = (sq_norm_of_sum[valid] - n[valid]) / 2 / pairs[valid]
    return float(np.mean(1.0 - mean_sim)) if valid.any() else float("nan")


def personalisation(recs: pd.DataFrame) -> float:
    """1 - mean cosine similarity between every two users' lists (1 = all lists different).

    Exact in O(n k): the overlaps summed over all pairs are sum_i c_i (c_i - 1) / 2, where
    c_i counts the lists containing item i.
    """
    sizes = recs.groupby(USER_COL, observed=True).size()
    n = len(sizes)
    if n < 2:
        return float("nan")
    k = sizes.mean()
    counts = recs[ITEM_COL].value_counts().to_numpy().astype(float)
    overlap = (counts * (counts - 1) / 2).sum()
    return float(1.0 - overlap / k / (n * (n - 1) / 2))
