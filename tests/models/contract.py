"""The contract every recommender passes (after implicit's RecommenderBaseTestMixin).

``test_contract.py`` runs it on every registered model (``available()``) with its defaults, so
a new model is covered without a new test. Subclass ``RecommenderContract`` (or
``PersonalisedContract``: the checkerboard's hidden structure must be found) to run it on
particular parameters too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL, USER_COL
from nbrec.models import Recommender, UnknownUserError
from tests.conftest import checkerboard


class RecommenderContract:
    def make_model(self) -> Recommender:
        raise NotImplementedError

    @pytest.fixture
    def fitted(self):
        return self.make_model().fit(checkerboard())

    def test_fit_returns_self_and_sets_catalogue(self):
        model = self.make_model()
        assert model.fit(checkerboard()) is model
        assert len(model.item_ids_) == 20 and len(model.user_ids_) == 40

    def test_recommend_top_k_shape_and_order(self, fitted):
        recs = fitted.recommend(["u000", "u001"], k=5)
        assert list(recs.columns) == [USER_COL, ITEM_COL, SCORE_COL, RANK_COL]
        assert set(recs[USER_COL]) == {"u000", "u001"}
        for _, group in recs.groupby(USER_COL):
            assert list(group[RANK_COL]) == [1, 2, 3, 4, 5]  # 14 unseen items: a full list
            assert group[SCORE_COL].is_monotonic_decreasing
            assert group[ITEM_COL].is_unique

    def test_seen_items_excluded(self, fitted):
        data = checkerboard()
        recs = fitted.recommend(data[USER_COL].unique(), k=10)
        seen = set(zip(data[USER_COL], data[ITEM_COL], strict=True))
        assert not any(pair in seen for pair in zip(recs[USER_COL], recs[ITEM_COL], strict=True))
        assert fitted.recommend(["u000"], k=20, exclude_seen=False)[ITEM_COL].nunique() == 20

    def test_unknown_users_explicit(self, fitted):
        both = fitted.recommend(["u000", "stranger"], k=3)
        assert set(both[USER_COL]) == {"u000", "stranger"}
        assert len(both[both[USER_COL] == "stranger"]) == 3
        assert set(fitted.recommend(["u000", "stranger"], k=3, unknown="drop")[USER_COL]) == {
            "u000"
        }
        with pytest.raises(UnknownUserError, match="stranger"):
            fitted.recommend(["stranger"], k=3, unknown="raise")

    def test_k_larger_than_catalogue(self, fitted):
        recs = fitted.recommend(["u000"], k=1000)
        assert len(recs) == 20 - 6  # every unseen item, once

    def test_save_load_round_trip(self, fitted, tmp_path):
        fitted.save(tmp_path / "m")
        loaded = Recommender.load(tmp_path / "m")
        assert type(loaded) is type(fitted)
        users = ["u000", "u001", "u017", "stranger"]
        a, b = fitted.recommend(users, k=5), loaded.recommend(users, k=5)
        pd.testing.assert_frame_equal(a, b)

    def test_similar_items(self, fitted):
        similar = fitted.similar_items("i004", k=5)
        assert list(similar.columns) == [ITEM_COL, SCORE_COL, RANK_COL]
        assert 0 < len(similar) <= 5 and "i004" not in set(similar[ITEM_COL])
        assert similar[SCORE_COL].is_monotonic_decreasing and similar[ITEM_COL].is_unique
        assert list(similar[RANK_COL]) == list(range(1, len(similar) + 1))
        codes, scores = fitted.similar_rows(np.arange(20), 3)
        assert codes.shape == scores.shape == (20, 3)
        assert not (codes == np.arange(20)[:, None])[np.isfinite(scores)].any()
        with pytest.raises(KeyError, match="nope"):
            fitted.similar_items("nope")


class PersonalisedContract(RecommenderContract):
    """A personalised model recommends (almost only) items of the user's own group."""

    def test_known_answer(self, fitted):
        recs = fitted.recommend([f"u{u:03d}" for u in range(40)], k=4)
        user_parity = recs[USER_COL].str[1:].astype(int) % 2
        item_parity = recs[ITEM_COL].str[1:].astype(int) % 2
        assert np.mean(user_parity.to_numpy() == item_parity.to_numpy()) >= 0.9
