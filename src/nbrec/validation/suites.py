"""The expectation suites in ``expectations/*.json`` and the frames they are run on.

Suites are JSON files reviewed like code. Values that depend on the run (the current time,
k, the number of users scored) are GX suite parameters (``{"$PARAMETER": "now"}``) filled in
here; the frames get the derived columns some expectations read (``in_catalogue``, ...).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import pandas as pd

from nbrec.constants import DEFAULT_K, ITEM_COL, SCORE_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.errors import MissingFileError
from nbrec.resources import resource_dir

EXPECTATIONS_DIR = resource_dir("expectations")
# Clocks of data producers drift a little; a few minutes ahead is not "the future".
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = "1990-01-01T00:00:00Z"
COVERAGE_FLOOR = 0.05


def load_suite(name: str) -> dict:
    """The suite ``expectations/<name>.json`` as a dict (name, meta, expectations)."""
    path = EXPECTATIONS_DIR / f"{name}.json"
    if not path.is_file():
        raise MissingFileError(
            f"no expectation suite {path}; have {sorted(p.stem for p in EXPECTATIONS_DIR.glob('*.json'))}"
        )
    return json.loads(path.read_text())


def interactions_parameters(now: pd.Timestamp | None = None, earliest: str = EARLIEST) -> dict:
    """Suite parameters for ``interactions``: the sane time range ends now (plus clock skew)."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    return {"earliest": pd.Timestamp(earliest), "now": now + CLOCK_SKEW}


def interactions_frame(raw: pd.DataFrame, object_ids: bool = True) -> pd.DataFrame:
    """The raw interactions, with the timestamp parsed leniently so the range checks can run.

    Nothing is dropped or filled: an unparseable timestamp becomes null and fails
    ``timestamp not null``; null ids stay null for ``user_id not null`` to report.
    ``object_ids=False`` leaves string id columns in their dtype (no type check runs on them:
    ``nbrec.validation.sampled``).
    """
    frame = raw.copy()
    for column in (USER_COL, ITEM_COL) if object_ids else ():
        # pandas' "str" dtype has no name GX's type check understands; object holds the same values.
        if column in frame and pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].astype(object)
    if TIMESTAMP_COL in frame and not isinstance(frame[TIMESTAMP_COL].dtype, pd.DatetimeTZDtype):
        column = frame[TIMESTAMP_COL]
        if pd.api.types.is_numeric_dtype(column):
            frame[TIMESTAMP_COL] = pd.to_datetime(column, unit="s", utc=True, errors="coerce")
        else:
            frame[TIMESTAMP_COL] = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    if WEIGHT_COL in frame and frame[WEIGHT_COL].dtype == object:
        frame[WEIGHT_COL] = pd.to_numeric(frame[WEIGHT_COL], errors="coerce")
    if WEIGHT_COL in frame and frame[WEIGHT_COL].dtype == np.float32:
        # GX compares float64 columns in one vectorised step, float32 value by value in Python
        frame[WEIGHT_COL] = frame[WEIGHT_COL].astype(np.float64)
    return frame


def recommendation_frame(
    recs: pd.DataFrame, catalogue: pd.Index, seen: pd.DataFrame | None, k: int = DEFAULT_K
) -> pd.DataFrame:
    """``recs`` plus the columns the ``recommendations`` suite checks.

    ``seen`` holds the (user_id, item_id) pairs of the training data; ``catalogue`` the item ids.
    ``recs_short`` marks users with fewer than k items although they have k unseen items left
    (a user who saw nearly the whole catalogue may rightly get fewer).
    """
    catalogue = pd.Index(catalogue).astype(str)
    frame = recs[[USER_COL, ITEM_COL, SCORE_COL]].copy()
    frame["in_catalogue"] = frame[ITEM_COL].astype(str).isin(catalogue)
    keys = frame[USER_COL].astype(str)
    n_seen = pd.Series(0, index=pd.Index(keys.unique()))
    frame["seen_in_training"] = False
    if seen is not None and len(seen):
        pairs = seen[[USER_COL, ITEM_COL]].astype(str).drop_duplicates()
        pairs = pairs[pairs[ITEM_COL].isin(catalogue)]
        index = pd.MultiIndex.from_frame(pairs)
        frame["seen_in_training"] = pd.MultiIndex.from_arrays(
            [keys, frame[ITEM_COL].astype(str)]
        ).isin(index)
        n_seen = pairs.groupby(USER_COL).size().reindex(n_seen.index, fill_value=0)
    frame["recs_for_user"] = frame.groupby(USER_COL, sort=False)[ITEM_COL].transform("size")
    expected = np.minimum(k, len(catalogue) - keys.map(n_seen).to_numpy())
    frame["recs_short"] = frame["recs_for_user"].to_numpy() < expected
    frame[SCORE_COL] = frame[SCORE_COL].astype(np.float64)
    return frame


def recommendation_parameters(
    n_users: int, n_catalogue: int, k: int = DEFAULT_K, coverage_floor: float = COVERAGE_FLOOR
) -> dict:
    """k per user, every user present, at least ``coverage_floor`` of the catalogue recommended."""
    k = min(k, n_catalogue)
    return {
        "k": k,
        "users": n_users,
        "min_distinct_items": max(1, math.ceil(coverage_floor * n_catalogue)),
    }
