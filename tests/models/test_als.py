from __future__ import annotations

import numpy as np
import pytest

from nbrec.constants import ITEM_COL
from nbrec.models import available, make_model
from nbrec.models.implicit_mf import factor_bytes, has_gpu
from tests.conftest import checkerboard
from tests.models.contract import PersonalisedContract


class TestALS(PersonalisedContract):
    def make_model(self):
        return make_model("als", factors=2, regularization=0.1)  # two taste groups

    def test_similar_items_are_the_same_group(self, fitted):
        similar = fitted.similar_items("i004", k=5)
        assert len(similar) == 5 and "i004" not in set(similar[ITEM_COL])
        assert (similar[ITEM_COL].str[1:].astype(int) % 2 == 0).mean() >= 0.8


class TestALSBM25(PersonalisedContract):
    def make_model(self):
        return make_model("als", factors=2, regularization=0.1, weighting="bm25", bm25_k1=1.2)


def test_als_is_an_auto_candidate_with_a_search_space():
    from nbrec.pipeline.candidates import candidate_names

    assert "als" in available() and "als" in candidate_names("auto")
    assert make_model("als").search_space


def test_unknown_weighting_names_the_value():
    with pytest.raises(ValueError, match="tfidf"):
        make_model("als", weighting="tfidf").fit(checkerboard())


def test_gpu_asked_for_without_a_gpu_says_so():
    if has_gpu():
        pytest.skip("a CUDA GPU is present: the GPU path is exercised instead")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        make_model("als", factors=4, use_gpu=True).fit(checkerboard())


def test_factors_are_seeded():
    a = make_model("als", factors=4).fit(checkerboard())
    b = make_model("als", factors=4).fit(checkerboard())
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_memory_estimate_covers_the_factors():
    model = make_model("als", factors=8).fit(checkerboard())
    held = model.user_factors_.nbytes + model.item_factors_.nbytes
    assert factor_bytes(40, 20, 240, 8) >= held


def test_a_spent_time_budget_ends_the_fit_with_whole_iterations():
    data = checkerboard()
    unbounded = make_model("als", factors=2, iterations=9, max_fit_seconds=None).fit(data)
    assert unbounded.iterations_run_ == 9
    bounded = make_model("als", factors=2, iterations=9, max_fit_seconds=1e-9).fit(data)
    assert bounded.iterations_run_ == 2  # MIN_ITERATIONS, then the budget stops it
    assert np.isfinite(bounded.user_factors_).all() and np.isfinite(bounded.item_factors_).all()
    assert not np.allclose(bounded.item_factors_, unbounded.item_factors_)
    # the default budget never binds on small data: the same factors as without one
    default = make_model("als", factors=2, iterations=9).fit(data)
    np.testing.assert_allclose(default.item_factors_, unbounded.item_factors_)
