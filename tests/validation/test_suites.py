"""Each suite passes clean data and names the expectation that bad data breaks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nbrec.models import make_model
from nbrec.validation import (
    interactions_frame,
    interactions_parameters,
    load_suite,
    recommendation_frame,
    recommendation_parameters,
    validate,
)


def check_interactions(frame, out_dir):
    return validate(
        interactions_frame(frame), "interactions", interactions_parameters(), out_dir=out_dir
    )


def test_every_expectation_has_a_reviewed_name():
    for suite in ("interactions", "items", "users", "recommendations"):
        names = [e["meta"]["name"] for e in load_suite(suite)["expectations"]]
        assert len(names) == len(set(names)), suite


def test_clean_interactions_pass_and_leave_a_report(clean, out_dir):
    report = check_interactions(clean.interactions, out_dir)
    assert report.success, report.summary()
    assert report.failed == []
    saved = json.loads(report.report_path.read_text())
    assert saved["success"] is True and report.report_path.is_relative_to(out_dir)
    assert report.docs_path.is_file() and report.docs_path.suffix == ".html"


def future(frame):
    frame.loc[frame.index[:3], "timestamp"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)


def ancient(frame):
    frame.loc[frame.index[:3], "timestamp"] = pd.Timestamp("1970-01-01", tz="UTC")


CASES = {
    "user_id not null": lambda f: f.__setitem__("user_id", f["user_id"].where(f.index > 3, None)),
    "item_id not null": lambda f: f.__setitem__("item_id", f["item_id"].where(f.index > 3, None)),
    "weights non-negative and bounded": lambda f: f.__setitem__("weight", f["weight"] * -1),
    "timestamps not in the future": future,
    "timestamps after the earliest sane date": ancient,
    "timestamp not null": lambda f: f.__setitem__("timestamp", f["timestamp"].astype(str).where(f.index > 0, "yesterday")),
    "user_id is a string or integer": lambda f: f.__setitem__("user_id", np.linspace(0.5, 9.5, len(f))),
    "duplicate events at most 2% of rows": lambda f: f.__setitem__("timestamp", f["timestamp"].iloc[0]),
}  # fmt: skip


@pytest.mark.parametrize("expectation", list(CASES))
def test_bad_interactions_name_the_expectation(expectation, clean, out_dir):
    frame = clean.interactions.copy()
    CASES[expectation](frame)
    report = check_interactions(frame, out_dir)
    assert not report.success
    assert expectation in report.failed, report.failed
    assert expectation in report.summary() and str(report.report_path) in report.summary()


@pytest.mark.parametrize("column", ["user_id", "item_id", "timestamp", "weight"])
def test_missing_column_is_named(column, clean, out_dir):
    report = check_interactions(clean.interactions.drop(columns=column), out_dir)
    assert f"{column} column present" in report.failed


def test_too_little_data(clean, out_dir):
    report = check_interactions(clean.interactions.head(50), out_dir)
    assert {"at least 200 events", "at least 20 users"} <= set(report.failed)


def test_side_tables(clean, out_dir):
    assert validate(clean.items, "items", out_dir=out_dir).success
    assert validate(clean.users, "users", out_dir=out_dir).success
    doubled = pd.concat([clean.items, clean.items.head(2)])
    assert "item_id unique" in validate(doubled, "items", out_dir=out_dir).failed
    bare = clean.users[["user_id"]]
    assert (
        "feature columns present besides user_id" in validate(bare, "users", out_dir=out_dir).failed
    )


@pytest.fixture(scope="module")
def fitted(clean):
    return make_model("popularity").fit(clean.interactions)


def check_recs(recs, model, clean, out_dir, k=10, floor=0.05):
    frame = recommendation_frame(recs, model.item_ids_, clean.interactions, k)
    params = recommendation_parameters(len(model.user_ids_), len(model.item_ids_), k, floor)
    return validate(frame, "recommendations", params, out_dir=out_dir)


def test_good_recommendations_pass(fitted, clean, out_dir):
    recs = fitted.recommend(fitted.user_ids_, 10)
    report = check_recs(recs, fitted, clean, out_dir)
    assert report.success, report.summary()


def test_bad_recommendations_are_caught(fitted, clean, out_dir):
    recs = fitted.recommend(fitted.user_ids_, 10)
    seen = fitted.recommend(fitted.user_ids_, 10, exclude_seen=False)
    assert "no item the user saw in training" in check_recs(seen, fitted, clean, out_dir).failed
    broken = recs.copy()
    broken.loc[0, "item_id"] = "not-an-item"
    broken.loc[1, "score"] = np.inf
    broken.loc[2, "score"] = np.nan
    failed = check_recs(broken, fitted, clean, out_dir).failed
    assert {"item ids in the catalogue", "scores finite", "score not null"} <= set(failed)
    short = recs[recs["rank"] <= 9]
    assert "k recommendations per user" in check_recs(short, fitted, clean, out_dir).failed
    missing_user = recs[recs["user_id"] != recs["user_id"].iloc[0]]
    assert "every user scored" in check_recs(missing_user, fitted, clean, out_dir).failed
    # popularity recommends the same few items to everyone: under a 50% coverage floor
    assert (
        "catalogue coverage above the floor"
        in check_recs(recs, fitted, clean, out_dir, floor=0.5).failed
    )


def test_short_lists_pass_only_for_users_who_saw_nearly_everything(out_dir):
    catalogue = pd.Index([f"i{n}" for n in range(12)])
    seen = pd.DataFrame(
        {"user_id": ["a"] * 10 + ["b"] * 2, "item_id": list(catalogue[:10]) + ["i0", "i1"]}
    )
    recs = pd.DataFrame({"user_id": ["a", "a"] + ["b"] * 5, "item_id": ["i10", "i11", "i2", "i3", "i4", "i5", "i6"],
                         "score": np.linspace(1, 0, 7)})  # fmt: skip
    frame = recommendation_frame(recs, catalogue, seen, k=10)
    assert frame.groupby("user_id")["recs_short"].first().to_dict() == {"a": False, "b": True}
    report = validate(
        frame, "recommendations", recommendation_parameters(2, 12, 10), out_dir=out_dir
    )
    assert report.failed == ["k recommendations per user"]
    full = recommendation_frame(recs[recs.user_id == "a"], catalogue, seen, k=10)
    assert validate(
        full, "recommendations", recommendation_parameters(1, 12, 10), out_dir=out_dir
    ).success
