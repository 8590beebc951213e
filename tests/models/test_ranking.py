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
