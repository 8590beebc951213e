"""The interactions suite past SAMPLE_ROWS: the value-by-value type check on a seeded sample,
everything else on every row; the same expectations fail as in one run on every row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbrec.validation import interactions_frame, interactions_parameters, validate
from nbrec.validation.sampled import validate_interactions
from tests.validation.test_suites import CASES


def test_clean_data_passes_with_both_reports(clean, out_dir):
    report = validate_interactions(clean.interactions, interactions_parameters(), "r", out_dir,
                                   sample_rows=500)  # fmt: skip
    assert report.success, report.summary()
    stats = report.statistics
    assert stats["sampled_rows"] == 500 and stats["rows"] == len(clean.interactions)
    assert stats["evaluated_expectations"] == 18  # the whole suite, split in two runs
    sample = json.loads(Path(stats["sample_report"]).read_text())
    assert {r["expectation_config"]["type"] for r in sample["results"]} == {
        "expect_column_values_to_be_in_type_list"
    }


@pytest.mark.parametrize(
    "expectation",
    ["user_id is a string or integer", "user_id not null", "timestamps not in the future",
     "duplicate events at most 2% of rows"],
)  # fmt: skip
def test_a_failure_is_named_as_in_one_full_run(expectation, clean, out_dir):
    frame = clean.interactions.copy()
    CASES[expectation](frame)
    params = interactions_parameters()
    full = validate(interactions_frame(frame), "interactions", params, out_dir=out_dir)
    split = validate_interactions(frame, params, "r", out_dir, sample_rows=500)
    assert not split.success and expectation in split.failed
    assert sorted(split.failed) == sorted(full.failed)
    assert str(split.report_path) in split.summary()
