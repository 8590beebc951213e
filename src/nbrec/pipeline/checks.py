"""The training run's data checks: the snapshot's tables and the recommendations it produces.

Each check validates with the Great Expectations suites (``nbrec.validation``), records the
result in the pipeline status file and raises ``ValidationFailed`` when a suite fails.
"""

from __future__ import annotations

import pandas as pd

from nbrec.data.schema import Dataset
from nbrec.models import Recommender
from nbrec.pipeline import status
from nbrec.pipeline.candidates import seen_pairs
from nbrec.pipeline.snapshot import DataSnapshot
from nbrec.validation import (
    ValidationFailed,
    interactions_frame,
    interactions_parameters,
    recommendation_frame,
    recommendation_parameters,
    validate,
)


def check_snapshot(snap: DataSnapshot, run_name: str) -> dict[str, str]:
    """Every table of the snapshot against its suite; any failure stops the run."""
    found = {"interactions": validate(interactions_frame(snap.interactions), "interactions",
                                      interactions_parameters(), run_name)}  # fmt: skip
    for table in ("items", "users"):
        if table in snap.tables:
            found[table] = validate(snap.tables[table], table, run_name=run_name)
    status.record_validation({name: report.status() for name, report in found.items()})
    for report in found.values():
        if not report.success:
            raise ValidationFailed(report)
    return {name: str(report.report_path) for name, report in found.items()}


def check_recommendations(
    recs: pd.DataFrame, model: Recommender, dataset: Dataset, k: int, run_name: str, label: str
) -> str:
    """The ``recommendations`` suite on ``recs`` (recorded as ``recommendations_<label>``)."""
    frame = recommendation_frame(recs, model.item_ids_, seen_pairs(dataset), k)
    params = recommendation_parameters(len(model.user_ids_), len(model.item_ids_), k)
    report = validate(frame, "recommendations", params, f"{run_name}-{label}")
    status.record_validation({f"recommendations_{label}": report.status()})
    if not report.success:
        raise ValidationFailed(report)
    return str(report.report_path)
