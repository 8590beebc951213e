"""The hourly check of what is live: the published recommendations still pass their suite.

A sample of users is read back from the feature store and validated with the
``recommendations`` suite; the result lands in the pipeline status file as suite
``recommendations_live`` (exported by the ops engineer's collector as
``nbrec_data_validation_success{suite="recommendations_live"}``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, ITEM_COL, USER_COL
from nbrec.pipeline import model_store, status
from nbrec.pipeline.lifecycle import published_recs
from nbrec.store import FeatureStore, open_store
from nbrec.validation import (
    ValidationReport,
    recommendation_frame,
    recommendation_parameters,
    validate,
)


def check_live(
    sample: int = 500,
    k: int = DEFAULT_K,
    store: FeatureStore | None = None,
    seed: int = DEFAULT_SEED,
) -> ValidationReport | None:
    """Validate ``sample`` users' live recommendations; None when nothing is live."""
    store = store or open_store()
    version = store.live_version()
    if version is None:
        return None
    model = model_store.load_model(version)
    rng = np.random.default_rng(seed)
    users = model.user_ids_.to_numpy()
    users = rng.choice(users, size=min(sample, len(users)), replace=False)
    recs = published_recs(store, version, users, k)
    seen = model.seen_.tocoo()
    pairs = {
        USER_COL: model.user_ids_.to_numpy()[seen.row],
        ITEM_COL: model.item_ids_.to_numpy()[seen.col],
    }
    frame = recommendation_frame(recs, model.item_ids_, pd.DataFrame(pairs), k)
    # Coverage of a sample is not the catalogue's coverage: only k per user and presence are checked.
    params = recommendation_parameters(len(users), len(model.item_ids_), k, coverage_floor=0.0)
    report = validate(frame, "recommendations", params, run_name=f"live-{version}")
    status.record_validation({"recommendations_live": report.status()})
    return report
