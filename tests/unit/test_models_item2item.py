from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.models import make_model
from nbrec.models.item2item import CatalogueTooLargeError, ease_bytes, ease_weights
from tests.conftest import checkerboard
from tests.unit.recommender_contract import PersonalisedContract


class TestEASE(PersonalisedContract):
    def make_model(self):
        return make_model("ease", l2=10.0)

    def test_similar_items_are_the_same_group(self, fitted):
        similar = fitted.similar_items("i004", k=5)
        assert len(similar) == 5 and "i004" not in set(similar[ITEM_COL])
        assert (similar[ITEM_COL].str[1:].astype(int) % 2 == 0).all()
        assert list(similar["rank"]) == [1, 2, 3, 4, 5]

    def test_unknown_item_says_so(self, fitted):
        with pytest.raises(KeyError, match="nope"):
            fitted.similar_items("nope")


class TestItemKNN(PersonalisedContract):
    def make_model(self):
        return make_model("item_knn", neighbours=10, shrink=0.0)

    def test_similar_items(self, fitted):
        similar = fitted.similar_items("i003", k=3)
        assert (similar[ITEM_COL].str[1:].astype(int) % 2 == 1).all()


def test_ease_closed_form_matches_a_direct_ridge_solve():
    """Column j of B is the ridge regression of item j on the other items (independent solve)."""
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((60, 8)) < 0.3).astype(np.float32))
    l2 = 5.0
    b = ease_weights(x, l2)
    dense = x.toarray().astype(float)
    for j in range(8):
        others = [i for i in range(8) if i != j]
        a = dense[:, others]
        coef = np.linalg.solve(a.T @ a + l2 * np.eye(7), a.T @ dense[:, j])
        # EASE's constraint diag(B)=0 with the Lagrangian gives the ridge on the other items
        np.testing.assert_allclose(b[others, j], coef, rtol=1e-4, atol=1e-5)
        assert b[j, j] == 0


def test_memory_guard_fails_clearly():
    model = make_model("ease", max_memory_gb=ease_bytes(19) / 2**30)  # 20 items need a bit more
    with pytest.raises(CatalogueTooLargeError, match=r"(?s)EASE on 20 items needs .*item_knn"):
        model.fit(checkerboard())


def test_memory_guard_can_switch_to_knn():
    model = make_model("ease", max_memory_gb=1e-9, on_too_large="knn").fit(checkerboard())
    assert model.method_ == "knn" and sp.issparse(model.weights_)
    recs = model.recommend(["u000"], k=3)
    assert (recs[ITEM_COL].str[1:].astype(int) % 2 == 0).all()


def test_ratings_are_binarised():
    frame = pd.DataFrame(
        {USER_COL: ["a", "a", "b"], ITEM_COL: ["x", "y", "x"], "weight": [5.0, 1.0, 3.0]}
    )
    model = make_model("ease", l2=1.0).fit(frame)
    assert set(model.history_.data) == {1.0}
