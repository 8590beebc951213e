"""Warehouse events as training interactions: a window, a weight per event type, a decay.

``nbrec train --events warehouse`` appends these rows to the base data set's interactions
before the snapshot is hashed, so the data hash (and the model version) covers exactly the
events used: new events make a new version, none make none. Users that exist only in the
events are then ordinary users of the new version (precomputed, personal answers).

Weights (``NBREC_EVENT_WEIGHTS``, ``--event-weights``): ``view=1,click=3,purchase=5,rating=value``
by default, the ordering of the synthetic data set's own event weights; ``value`` takes the
event's ``value`` (a rating). An event type mapped to 0 is left out. The optional decay halves
a weight every ``half_life_days`` of age, measured from the newest event used (not the clock:
the same events always give the same weights, hence the same hash).
"""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from nbrec.constants import EVENT_COL, ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.events.warehouse import EVENTS, Warehouse

DEFAULT_WEIGHTS = "view=1,click=3,purchase=5,rating=value"
_WINDOW = re.compile(r"^(\d+)([dhw])$")


def parse_weights(spec: str) -> dict[str, float | str]:
    """``"view=1,click=3,rating=value"`` -> ``{"view": 1.0, "click": 3.0, "rating": "value"}``."""
    weights: dict[str, float | str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        event, sep, raw = part.partition("=")
        if not sep or not event.strip():
            raise ValueError(f"event weight {part!r} is not EVENT=WEIGHT (e.g. click=3)")
        raw = raw.strip()
        if raw == "value":
            weights[event.strip()] = "value"
            continue
        try:
            weight = float(raw)
        except ValueError:
            raise ValueError(
                f"weight of {event.strip()!r} is {raw!r}: use a number or 'value'"
            ) from None
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of {event.strip()!r} must be finite and >= 0, got {raw}")
        weights[event.strip()] = weight
    if not weights:
        raise ValueError(f"no event weights in {spec!r}; e.g. {DEFAULT_WEIGHTS}")
    return weights


def parse_window(window: str | None) -> timedelta | None:
    """``"90d"``, ``"12h"``, ``"2w"`` -> a timedelta; None or "" -> no limit."""
    if not window:
        return None
    match = _WINDOW.match(window.strip())
    if match is None:
        raise ValueError(f"window {window!r} is not like 90d, 12h or 2w")
    n, unit = int(match[1]), match[2]
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "w": timedelta(weeks=n)}[unit]


def event_interactions(
    warehouse: Warehouse | None = None,
    window: str | None = "90d",
    weights: str | dict = DEFAULT_WEIGHTS,
    half_life_days: float | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The warehouse's events inside ``window`` (ending ``now``) as canonical interactions."""
    warehouse = warehouse or Warehouse()
    mapping = parse_weights(weights) if isinstance(weights, str) else dict(weights)
    columns = [USER_COL, ITEM_COL, TIMESTAMP_COL, WEIGHT_COL, EVENT_COL]
    dataset = warehouse.dataset(EVENTS)
    if dataset is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    span = parse_window(window)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    import pyarrow.dataset as ds

    condition = ds.field("event").isin(list(mapping))
    if span is not None:
        condition &= ds.field("ts") >= pc.scalar((now - span).to_pydatetime())
    condition &= ds.field("ts") <= pc.scalar(now.to_pydatetime())
    table = dataset.to_table(
        columns=["event_id", "ts", "user_id", "item_id", "event", "value"], filter=condition
    )
    # One row per event_id (the ingester guarantees it; a copy made by hand must not count twice),
    # in a stable order so the same events always hash the same.
    frame = table.to_pandas().drop_duplicates("event_id").sort_values(["ts", "event_id"])
    fixed = frame["event"].map(lambda e: mapping[e] if mapping[e] != "value" else np.nan)
    weight = fixed.astype(float).where(fixed.notna(), frame["value"]).astype(float)
    if half_life_days:
        age_days = (frame["ts"].max() - frame["ts"]).dt.total_seconds() / 86_400
        weight = weight * np.power(0.5, age_days / float(half_life_days))
    out = pd.DataFrame({
        USER_COL: frame["user_id"].astype(str).to_numpy(),
        ITEM_COL: frame["item_id"].astype(str).to_numpy(),
        TIMESTAMP_COL: frame["ts"].dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(),
        WEIGHT_COL: weight.to_numpy(),
        EVENT_COL: frame["event"].astype(str).to_numpy(),
    })  # fmt: skip
    return out[out[WEIGHT_COL].notna() & (out[WEIGHT_COL] > 0)].reset_index(drop=True)
