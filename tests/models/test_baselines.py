from __future__ import annotations

import pandas as pd

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL
from nbrec.models import make_model
from tests.models.contract import RecommenderContract


class TestRandom(RecommenderContract):
    def make_model(self):
        return make_model("random", seed=3)

    def test_same_user_same_answer(self, fitted):
        a = fitted.recommend(["u005"], k=5)
        b = fitted.recommend(["u005"], k=5)
        pd.testing.assert_frame_equal(a, b)

    def test_answer_does_not_depend_on_the_other_users_asked_for(self, fitted):
        alone = fitted.recommend(["u005"], k=5)
        together = fitted.recommend(["u001", "u003", "u005"], k=5)
        mine = together[together[USER_COL] == "u005"].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine)


class TestPopularity(RecommenderContract):
    def make_model(self):
        return make_model("popularity")

    def test_most_popular_first(self):
        frame = pd.DataFrame(
            {USER_COL: ["a", "b", "c", "a", "b", "a"], ITEM_COL: ["x", "x", "x", "y", "y", "z"]}
        )
        model = make_model("popularity").fit(frame)
        assert model.recommend(["new"], k=3)[ITEM_COL].tolist() == ["x", "y", "z"]
        assert model.recommend(["c"], k=3)[ITEM_COL].tolist() == ["y", "z"]


class TestRecency(RecommenderContract):
    def make_model(self):
        return make_model("recency", half_life_days=7.0)

    def test_recent_beats_old(self):
        frame = pd.DataFrame(
            {
                USER_COL: ["a", "b", "c", "d"],
                ITEM_COL: ["old", "old", "new", "other"],
                TIMESTAMP_COL: pd.to_datetime(
                    ["2026-01-01", "2026-01-01", "2026-03-01", "2026-03-01"], utc=True
                ),
            }
        )
        model = make_model("recency", half_life_days=7.0).fit(frame)
        top = model.recommend(["nobody"], k=3)[ITEM_COL].tolist()
        assert top.index("new") < top.index("old")


def test_tuning_picks_on_validation_and_keeps_parameter_types(tiny_synthetic):
    from nbrec.data import deduplicate, split
    from nbrec.evaluation.tuning import tune

    best, trials = tune("item_knn", split(deduplicate(tiny_synthetic.interactions)), k=10)
    assert type(best["neighbours"]) is int and type(best["shrink"]) is float
    complete = trials[trials["state"] == "complete"]
    assert 3 <= len(complete) <= len(trials) <= 12 and complete["ndcg@10"].is_monotonic_decreasing
    assert best["neighbours"] == complete["neighbours"].iloc[0]
