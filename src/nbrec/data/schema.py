"""The canonical tables: interactions, items and users, and the checks that guard them.

Interactions have one row per event: ``user_id``, ``item_id`` (strings), ``timestamp``
(UTC, ``datetime64[ns, UTC]``), ``weight`` (float, rating or implicit strength) and
``event_type`` (string). Items and users are keyed by ``item_id`` / ``user_id``; every other
column is a side feature.

Duplicate rule: when a user has several events on one item, ``deduplicate`` keeps one row per
(user, item): the latest timestamp, the maximum weight and the event type of the latest event.
Models see a user-item pair once; the raw event log is kept for replay and analysis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nbrec.constants import EVENT_COL, ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.errors import UserError


class DataError(UserError, ValueError):
    """Bad input data. The message names the source, the column and an offending value."""


@dataclass
class Dataset:
    """Interactions plus optional item and user side tables, under one name."""

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    def content_hash(self) -> str:
        """A short hash of the interactions' content: what the leaderboard records next to numbers."""
        return frame_hash(self.interactions)

    def summary(self) -> dict:
        df = self.interactions
        n_users, n_items = df[USER_COL].nunique(), df[ITEM_COL].nunique()
        return {
            "dataset": self.name,
            "interactions": len(df),
            "users": n_users,
            "items": n_items,
            "density": len(df) / max(n_users * n_items, 1),
            "start": str(df[TIMESTAMP_COL].min()),
            "end": str(df[TIMESTAMP_COL].max()),
        }


def frame_hash(df: pd.DataFrame) -> str:
    """Deterministic content hash of a frame (row order matters).

    Timestamps are hashed at one resolution (ns), so the same events hash the same whether
    they were generated in memory or read back from parquet.
    """
    df = df.assign(
        **{
            c: df[c].dt.as_unit("ns")
            for c in df.columns
            if pd.api.types.is_datetime64_any_dtype(df[c])
        }
    )
    values = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(values.tobytes()).hexdigest()[:16]


def coerce_interactions(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check and convert a raw interactions frame to the canonical schema.

    Raises ``DataError`` naming ``source``, the column and a bad value when the frame is empty,
    lacks a column, has null ids, unparseable timestamps or non-numeric weights.
    """
    if df is None or len(df) == 0:
        raise DataError(f"{source}: no interactions (the file or frame is empty)")
    df = df.reset_index(drop=True)  # every column below is aligned by position
    missing = [c for c in (USER_COL, ITEM_COL) if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; found {list(df.columns)}. "
            "Pass a column mapping, e.g. --map user_id=userId"
        )
    out = pd.DataFrame({USER_COL: _ids(df, USER_COL, source), ITEM_COL: _ids(df, ITEM_COL, source)})
    out[TIMESTAMP_COL] = _timestamps(df, source)
    out[WEIGHT_COL] = _weights(df, source)
    event = df[EVENT_COL] if EVENT_COL in df.columns else pd.Series("interaction", index=df.index)
    out[EVENT_COL] = event.fillna("interaction").astype(str).to_numpy()
    return out.reset_index(drop=True)


def _ids(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    series = df[col]
    nulls = series.isna()
    if nulls.any():
        row = int(np.flatnonzero(nulls.to_numpy())[0])
        raise DataError(
            f"{source}: column '{col}' has {int(nulls.sum())} null value(s), first at row {row}"
        )
    if pd.api.types.is_float_dtype(series) and (series % 1 == 0).all():
        series = series.astype("int64")
    return series.astype(str).to_numpy()


def _timestamps(df: pd.DataFrame, source: str) -> pd.Series:
    if TIMESTAMP_COL not in df.columns:
        # No time information: all events at the epoch, so temporal splits are meaningless
        # but everything else works.
        return pd.Series(pd.Timestamp(0, tz="UTC"), index=df.index)
    raw = df[TIMESTAMP_COL]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        # Numbers (or numeric strings) are unix seconds; anything else is parsed as a date.
        numeric = pd.to_numeric(raw, errors="coerce")
        parsed = pd.to_datetime(numeric, unit="s", utc=True, errors="coerce")
        text = numeric.isna() & raw.notna()
        if text.any():
            parsed[text] = pd.to_datetime(
                raw[text].astype(str), utc=True, errors="coerce", format="mixed"
            )
    bad = parsed.isna() & raw.notna() | raw.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: column '{TIMESTAMP_COL}' has {int(bad.sum())} unparseable value(s), "
            f"first at row {row}: {raw.iloc[row]!r} (use unix seconds or ISO 8601)"
        )
    return parsed.dt.as_unit("ns")


def _weights(df: pd.DataFrame, source: str) -> np.ndarray:
    if WEIGHT_COL not in df.columns:
        return np.ones(len(df), dtype="float32")
    raw = df[WEIGHT_COL]
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.fillna(0))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: column '{WEIGHT_COL}' has {int(bad.sum())} non-numeric or missing "
            f"value(s), first at row {row}: {raw.iloc[row]!r}"
        )
    return numeric.to_numpy(dtype="float32")


def deduplicate(interactions: pd.DataFrame) -> pd.DataFrame:
    """One row per (user, item): latest timestamp and event type, maximum weight."""
    ordered = interactions.sort_values(TIMESTAMP_COL, kind="stable")
    grouped = ordered.groupby([USER_COL, ITEM_COL], sort=False, observed=True)
    latest = grouped.tail(1).set_index([USER_COL, ITEM_COL])
    latest[WEIGHT_COL] = grouped[WEIGHT_COL].max()
    return (
        latest.reset_index()[list(interactions.columns)]
        .sort_values([USER_COL, TIMESTAMP_COL], kind="stable")
        .reset_index(drop=True)
    )


def coerce_side_table(df: pd.DataFrame | None, key: str, source: str) -> pd.DataFrame | None:
    """Side tables: key column present, non-null, unique; the key becomes a string."""
    if df is None:
        return None
    if key not in df.columns:
        raise DataError(f"{source}: missing key column '{key}'; found {list(df.columns)}")
    if df[key].isna().any():
        raise DataError(f"{source}: key column '{key}' has null values")
    out = df.copy()
    out[key] = out[key].astype(str)
    dup = out[key].duplicated()
    if dup.any():
        raise DataError(
            f"{source}: key column '{key}' is not unique, e.g. {out[key][dup].iloc[0]!r}"
        )
    return out.reset_index(drop=True)
