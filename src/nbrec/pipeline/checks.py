"""The training run's data checks: the snapshot's tables and the recommendations it produces.

Each check validates with the Great Expectations suites (``nbrec.validation``), records the
result in the pipeline status file and raises ``ValidationFailed`` when a suite fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.constants import ITEM_COL, SCORE_COL, USER_COL
from nbrec.data.schema import Dataset
from nbrec.models import Recommender
from nbrec.pipeline import status
from nbrec.pipeline.snapshot import DataSnapshot
from nbrec.store.ranked import RankedTable
from nbrec.validation import (
    ValidationFailed,
    interactions_parameters,
    recommendation_parameters,
    validate,
)
from nbrec.validation.coded import coded_frame, codes_of
from nbrec.validation.sampled import validate_interactions


def check_snapshot(snap: DataSnapshot, run_name: str) -> dict[str, str]:
    """Every table of the snapshot against its suite; any failure stops the run."""
    found = {"interactions": validate_interactions(snap.interactions, interactions_parameters(),
                                                   run_name)}  # fmt: skip
    for table in ("items", "users"):
        if table in snap.tables:
            found[table] = validate(snap.tables[table], table, run_name=run_name)
    status.record_validation({name: report.status() for name, report in found.items()})
    for report in found.values():
        if not report.success:
            raise ValidationFailed(report)
    return {name: str(report.report_path) for name, report in found.items()}


def check_recommendations(
    recs: pd.DataFrame | RankedTable, model: Recommender, dataset: Dataset, k: int,
    run_name: str, label: str,
) -> str:  # fmt: skip
    """The ``recommendations`` suite on ``recs`` (recorded as ``recommendations_<label>``):
    a frame of ids (read back from the store) or the ranked table scoring computed (its
    first k columns). Checked on every row in the model's codes (``nbrec.validation.coded``):
    the seen pairs are the model's training matrix, built from ``dataset``'s interactions."""
    frame = coded_frame(*_codes(recs, model, k), model.seen_, k)
    params = recommendation_parameters(len(model.user_ids_), len(model.item_ids_), k)
    report = validate(frame, "recommendations", params, f"{run_name}-{label}")
    status.record_validation({f"recommendations_{label}": report.status()})
    if not report.success:
        raise ValidationFailed(report)
    return str(report.report_path)


def _codes(recs, model: Recommender, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user codes, item codes, scores) of every recommendation in ``recs``."""
    if isinstance(recs, RankedTable):
        width = min(k, recs.codes.shape[1])
        scores = recs.scores[:, :width]
        rows, cols = np.nonzero(np.isfinite(scores))  # a non-finite score ends a list
        users = model.user_ids_.get_indexer(pd.Index(recs.user_ids))
        return users[rows].astype(np.float64), recs.codes[rows, cols], scores[rows, cols]
    return (codes_of(recs[USER_COL], model.user_ids_), codes_of(recs[ITEM_COL], model.item_ids_),
            recs[SCORE_COL].to_numpy(dtype=np.float64))  # fmt: skip
