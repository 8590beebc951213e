"""top_k: the block-maximum shortcut on wide rows returns what a full sort would."""

from __future__ import annotations

import numpy as np
import pytest

from nbrec.models import ranking


@pytest.mark.parametrize("n_items", [7, 640, 641, 3000, 9713])
@pytest.mark.parametrize("case", ["normal", "ties", "mostly_excluded", "all_in_the_tail"])
def test_top_k_equals_a_full_sort(n_items, case):
    rng = np.random.default_rng(n_items)
    scores = rng.normal(size=(40, n_items)).astype(np.float32)
    if case == "ties":
        scores = rng.integers(0, 4, size=scores.shape).astype(np.float32)
    elif case == "mostly_excluded":
        scores[rng.random(scores.shape) < 0.95] = -np.inf
    elif case == "all_in_the_tail":  # only the last items (outside every full block) count
        scores[:, :] = -np.inf
        scores[:, -3:] = rng.normal(size=(40, 3))
    for k in (1, 10, 25):
        items, values = ranking.top_k(scores, k)
        want = -np.sort(-scores, axis=1)[:, : min(k, n_items)]
        np.testing.assert_array_equal(values, want)
        np.testing.assert_array_equal(np.take_along_axis(scores, items, axis=1), values)
        assert all(len(set(row)) == len(row) for row in items)  # no item twice


def test_the_shortcut_is_taken_on_wide_rows(monkeypatch):
    """On 3,000 items and k = 10 the full-row partition is never called."""
    calls = []
    real = ranking._largest
    monkeypatch.setattr(ranking, "_largest", lambda s, k: calls.append(s.shape) or real(s, k))
    ranking.top_k(np.random.default_rng(0).normal(size=(3, 3000)), 10)
    assert calls == [(3, 10 * ranking.BLOCK + 3000 % ranking.BLOCK)]


def _sparse_case(rng, n_rows, n_items, per_row):
    import scipy.sparse as sp

    rows = np.repeat(np.arange(n_rows), per_row)
    cols = rng.integers(0, n_items, len(rows))
    vals = rng.random(len(rows)).astype(np.float32) + 0.01  # distinct positive scores
    scores = sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, n_items))
    seen_rows = np.repeat(np.arange(n_rows), 5)
    seen = sp.csr_matrix(
        (np.ones(len(seen_rows), np.float32), (seen_rows, rng.integers(0, n_items, len(seen_rows)))),
        shape=(n_rows, n_items),
    )  # fmt: skip
    seen.sum_duplicates()
    seen.sort_indices()
    return scores, seen


@pytest.mark.parametrize("per_row", [0, 3, 40, 400])  # rows with fewer and more than k scores
def test_top_k_sparse_equals_the_dense_path(per_row):
    rng = np.random.default_rng(per_row)
    scores, seen = _sparse_case(rng, 30, 2_000, per_row)
    dense = scores.toarray()
    ranking.exclude(dense, seen)
    want_items, want_vals = ranking.top_k(dense, 20)
    got_items, got_vals = ranking.top_k_sparse(scores, seen, 20)
    np.testing.assert_array_equal(got_vals, want_vals)  # the same scores, best first
    positive = want_vals > 0  # distinct: the same items; zero-score fill may pick others
    np.testing.assert_array_equal(got_items[positive], want_items[positive])
    for row, items in enumerate(got_items):  # never a seen item, never one twice
        assert not set(items) & set(seen[row].indices) and len(set(items)) == 20


def test_top_k_sparse_leaves_negative_scores_and_full_rows_to_the_dense_path():
    rng = np.random.default_rng(1)
    scores, seen = _sparse_case(rng, 4, 50, 10)
    assert ranking.top_k_sparse(scores, seen, 10) is not None
    negative = scores.copy()
    negative.data[0] = -1.0
    assert ranking.top_k_sparse(negative, seen, 10) is None
    assert ranking.top_k_sparse(scores, seen, 48) is None  # fewer than 48 unseen items


def test_item_to_item_scoring_takes_the_sparse_path_with_the_dense_scores():
    from nbrec.data.synthetic import generate
    from nbrec.models import make_model

    data = generate(users=300, items=400, interactions=6_000, seed=5).interactions
    for name in ("item_knn", "rp3beta"):
        model = make_model(name).fit(data)
        rows = np.arange(len(model.user_ids_))
        items, vals = model.top_k_rows(rows, 15)
        dense = np.array(model._score(rows), dtype=np.float32)
        ranking.exclude(dense, model.seen_[rows])
        want_items, want_vals = ranking.top_k(dense, 15)
        np.testing.assert_allclose(vals, want_vals, rtol=1e-6)
        agree = (items == want_items).mean()
        assert agree > 0.95, (name, agree)  # only equal scores may trade places
