"""The ``interactions`` suite on millions of rows: every row, but one kind on a sample.

GX checks most expectations of the suite column-wise (nulls, ranges, duplicates, distinct
counts: vectorised in pandas), but ``expect_column_values_to_be_in_type_list`` calls
``isinstance`` on every value of an object column, and the id columns must be object for
GX's type check to know them (``interactions_frame``). Past ``SAMPLE_ROWS`` rows that one
kind runs on a seeded sample of ``SAMPLE_ROWS`` rows and every other expectation on every
row, with the id columns left in their own (string) dtype: no copy of millions of Python
strings. Where a column's dtype is a string or integer dtype every value has that type, so
the sample decides exactly what all rows would; only an object column of mixed values is
judged by its sample. Both parts are GX reports; a failure in either is named.
"""

from __future__ import annotations

import pandas as pd

from nbrec.constants import DEFAULT_SEED
from nbrec.validation.runner import ValidationReport, validate
from nbrec.validation.suites import interactions_frame

SAMPLE_ROWS = 200_000
VALUE_BY_VALUE = {"expect_column_values_to_be_in_type_list"}


def validate_interactions(
    raw: pd.DataFrame, parameters: dict, run_name: str | None = None,
    out_dir=None, sample_rows: int = SAMPLE_ROWS, seed: int = DEFAULT_SEED,
) -> ValidationReport:  # fmt: skip
    """The ``interactions`` suite on ``raw`` (see the module doc); one merged report."""
    if len(raw) <= sample_rows:
        frame = interactions_frame(raw)
        return validate(frame, "interactions", parameters, run_name, out_dir)
    sample = raw.sample(n=sample_rows, random_state=seed)
    typed = validate(interactions_frame(sample), "interactions", parameters,
                     f"{run_name or 'run'}-sample", out_dir,
                     only=lambda e: e["type"] in VALUE_BY_VALUE)  # fmt: skip
    rows = validate(interactions_frame(raw, object_ids=False), "interactions", parameters,
                    run_name, out_dir, only=lambda e: e["type"] not in VALUE_BY_VALUE)  # fmt: skip
    statistics = {
        "evaluated_expectations": sum(
            r.statistics.get("evaluated_expectations", 0) for r in (rows, typed)
        ),
        "rows": len(raw), "sampled_rows": sample_rows, "sample_report": str(typed.report_path),
        "sampled_expectations": sorted(VALUE_BY_VALUE),
    }  # fmt: skip
    return ValidationReport(
        "interactions", rows.success and typed.success, typed.failed + rows.failed,
        rows.report_path if not rows.success or typed.success else typed.report_path,
        rows.docs_path if not rows.success or typed.success else typed.docs_path, statistics,
    )  # fmt: skip
