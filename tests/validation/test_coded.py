"""The training run's recommendation check from model codes agrees with the id-based frame
and names the same failed expectations (nbrec.validation.coded, nbrec.pipeline.checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbrec.models import make_model
from nbrec.pipeline import checks, scoring
from nbrec.validation import (
    ValidationFailed,
    recommendation_frame,
    recommendation_parameters,
    validate,
)
from nbrec.validation.coded import coded_frame, codes_of

DERIVED = ["in_catalogue", "seen_in_training", "recs_for_user", "recs_short"]


@pytest.fixture(scope="module")
def fitted(clean):
    return make_model("item_knn").fit(clean.interactions)


def both(recs, model, clean, k=10):
    by_ids = recommendation_frame(recs, model.item_ids_, clean.interactions, k)
    users, items = (
        codes_of(recs["user_id"], model.user_ids_),
        codes_of(recs["item_id"], model.item_ids_),
    )
    return by_ids, coded_frame(users, items, recs["score"].to_numpy(float), model.seen_, k)


def broken_cases(recs, fitted):
    seen = fitted.recommend(fitted.user_ids_, 10, exclude_seen=False)
    bad = recs.copy()
    bad.loc[0, "item_id"] = "not-an-item"
    bad.loc[1, "score"] = np.nan
    bad.loc[2, "user_id"] = None
    return {"seen": seen, "bad": bad, "short": recs[recs["rank"] <= 9],
            "missing": recs[recs["user_id"] != recs["user_id"].iloc[0]],
            "twice": pd.concat([recs, recs.head(1)], ignore_index=True)}  # fmt: skip


def test_coded_columns_equal_the_id_based_ones(fitted, clean):
    recs = fitted.recommend(fitted.user_ids_, 10)
    for name, case in {"good": recs, **broken_cases(recs, fitted)}.items():
        by_ids, by_codes = both(case, fitted, clean)
        for column in DERIVED:
            want, got = by_ids[column].to_numpy(float), by_codes[column].to_numpy(float)
            np.testing.assert_array_equal(want, got, err_msg=f"{name} {column}")


def test_coded_frame_names_the_same_failures(fitted, clean, out_dir):
    recs = fitted.recommend(fitted.user_ids_, 10)
    params = recommendation_parameters(len(fitted.user_ids_), len(fitted.item_ids_), 10, 0.05)
    assert validate(
        both(recs, fitted, clean)[1], "recommendations", params, out_dir=out_dir
    ).success
    for name, case in broken_cases(recs, fitted).items():
        by_ids, by_codes = both(case, fitted, clean)
        expected = validate(by_ids, "recommendations", params, out_dir=out_dir).failed
        assert expected, name
        assert validate(by_codes, "recommendations", params, out_dir=out_dir).failed == expected


def test_check_recommendations_takes_the_ranked_table(fitted, clean, tmp_path, monkeypatch):
    monkeypatch.setenv("NBREC_VAR_DIR", str(tmp_path / "var"))
    parts = [
        scoring.score_rows(fitted, s, 20)
        for s in scoring.shards(np.arange(len(fitted.user_ids_)), 50)
    ]
    ranked = scoring.ranked_table(fitted, parts)
    assert checks.check_recommendations(ranked, fitted, clean, 10, "run", "candidate")
    assert checks.check_recommendations(ranked.top_k_frame(10), fitted, clean, 10, "run", "back")
    ranked.codes[3, 2] = ranked.codes[3, 0]  # an item twice in one user's list
    with pytest.raises(ValidationFailed, match="no item twice in a user's list"):
        checks.check_recommendations(ranked, fitted, clean, 10, "run", "candidate")
