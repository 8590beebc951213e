"""Metrics against hand-computed cases and against ranx, an independent implementation."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, RANK_COL, USER_COL
from nbrec.evaluation.metrics import (
    accuracy,
    catalog_coverage,
    hit_matrix,
    intra_list_diversity,
    novelty,
    personalisation,
    ranking_metrics,
)


def recs_frame(lists: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(u, i, r + 1) for u, items in lists.items() for r, i in enumerate(items)]
    return pd.DataFrame(rows, columns=[USER_COL, ITEM_COL, RANK_COL])


def test_hand_computed_single_user():
    recs = recs_frame({"u": ["a", "b", "c", "d"]})
    test = pd.DataFrame({USER_COL: "u", ITEM_COL: ["b", "d", "z"]})
    m = accuracy(recs, test, k=4)
    assert m["precision@4"] == pytest.approx(0.5)
    assert m["recall@4"] == pytest.approx(2 / 3)
    assert m["mrr@4"] == pytest.approx(0.5)
    assert m["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@4"] == pytest.approx(dcg / idcg)
    assert m["hit_rate@4"] == 1.0


def test_user_without_recommendations_scores_zero_and_counts():
    recs = recs_frame({"a": ["x"]})
    test = pd.DataFrame({USER_COL: ["a", "b"], ITEM_COL: ["x", "y"]})
    m = accuracy(recs, test, k=1)
    assert m["precision@1"] == pytest.approx(0.5)  # a: 1, b: 0
    assert m["ndcg@1"] == pytest.approx(0.5)


def test_recommendations_beyond_k_are_ignored():
    recs = recs_frame({"a": ["n1", "n2", "x"]})
    test = pd.DataFrame({USER_COL: ["a"], ITEM_COL: ["x"]})
    assert accuracy(recs, test, k=2)["hit_rate@2"] == 0.0
    assert accuracy(recs, test, k=3)["hit_rate@3"] == 1.0


# ranx in a child process with numba's JIT off: the same algorithms as plain Python, without
# the ~80 s a fresh machine spends compiling them (numba's on-disk cache is empty there; 200
# users need no compiled speed). The flag must be set before numba is imported.
RANX_CHILD = """
import json, sys
import ranx
qrels, run, metrics = json.load(sys.stdin)
qrels = ranx.Qrels(qrels)
scores = ranx.evaluate(qrels, ranx.Run(run), metrics, return_mean=False)
json.dump({"users": list(qrels.keys()), **{m: list(map(float, v)) for m, v in scores.items()}},
          sys.stdout)
"""


def ranx_per_user(qrels: dict, run: dict, metrics: list[str]) -> dict:
    """ranx's per-user figures (and its order of users) for ``metrics``."""
    pytest.importorskip("ranx")
    child = subprocess.run(
        [sys.executable, "-c", RANX_CHILD], input=json.dumps([qrels, run, metrics]),
        capture_output=True, text=True, check=True, timeout=300,
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
    )  # fmt: skip
    return json.loads(child.stdout)


def test_against_ranx_on_random_lists():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 200, 60, 10
    lists, qrels, run = {}, {}, {}
    test_rows = []
    for u in range(n_users):
        user = f"u{u}"
        relevant = rng.choice(n_items, size=rng.integers(1, 15), replace=False)
        ranked = rng.choice(n_items, size=k, replace=False)
        lists[user] = [f"i{i}" for i in ranked]
        test_rows += [(user, f"i{i}") for i in relevant]
        qrels[user] = {f"i{i}": 1 for i in relevant}
        run[user] = {f"i{i}": float(k - r) for r, i in enumerate(ranked)}
    recs = recs_frame(lists)
    test = pd.DataFrame(test_rows, columns=[USER_COL, ITEM_COL])
    hits, n_rel, users = hit_matrix(recs, test, k)
    ours = ranking_metrics(hits, n_rel)
    names = ["precision", "recall", "ndcg", "mrr", "hit_rate", "map"]
    theirs = ranx_per_user(qrels, run, [f"{n}@{k}" for n in names])
    ranx_users = theirs["users"]  # ranx orders users its own way
    order = [ranx_users.index(u) for u in users]
    for name in ["precision", "recall", "ndcg", "mrr", "hit_rate"]:
        np.testing.assert_allclose(
            ours[name], np.asarray(theirs[f"{name}@{k}"])[order], atol=1e-9, err_msg=name
        )
    # ranx divides average precision by R; nbrec by min(R, k), so a perfect list scores 1.
    rescale = n_rel / np.minimum(n_rel, k)
    np.testing.assert_allclose(
        ours["map"], np.asarray(theirs[f"map@{k}"])[order] * rescale, atol=1e-9
    )


def test_coverage_and_novelty():
    recs = recs_frame({"a": ["x", "y"], "b": ["x", "z"]})
    assert catalog_coverage(recs, catalog_size=6) == pytest.approx(0.5)
    train = pd.DataFrame({USER_COL: ["a", "b", "c", "d"], ITEM_COL: ["x", "x", "y", "z"]})
    # p(x) = 2/4, p(y) = p(z) = 1/4 -> self-information 1, 2, 2; rows x, y, x, z
    assert novelty(recs, train) == pytest.approx((1 + 2 + 1 + 2) / 4)


def test_intra_list_diversity_hand_case():
    features = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1]], dtype=float))
    items = pd.Index(["x", "y", "z"])
    same = recs_frame({"a": ["x", "y"]})
    different = recs_frame({"a": ["x", "z"]})
    three = recs_frame({"a": ["x", "y", "z"]})  # pairs: xy 0, xz 1, yz 1 -> 2/3
    assert intra_list_diversity(same, features, items) == pytest.approx(0.0)
    assert intra_list_diversity(different, features, items) == pytest.approx(1.0)
    assert intra_list_diversity(three, features, items) == pytest.approx(2 / 3)


def test_personalisation_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    lists = {f"u{u}": [f"i{i}" for i in rng.choice(15, 5, replace=False)] for u in range(30)}
    sets = list(map(set, lists.values()))
    sims = [len(a & b) / 5 for n, a in enumerate(sets) for b in sets[n + 1 :]]
    assert personalisation(recs_frame(lists)) == pytest.approx(1 - np.mean(sims))
    assert personalisation(recs_frame({"a": ["x", "y"], "b": ["x", "y"]})) == pytest.approx(0.0)
