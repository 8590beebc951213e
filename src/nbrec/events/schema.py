"""The event record: what ``/feedback`` acknowledges, the journal keeps and the warehouse stores.

One flat record per event; the warehouse's Parquet schema is :data:`EVENT_SCHEMA`. An event's
``event_id`` is its idempotency key: a client retrying a request sends the same one and the
warehouse keeps the event once; a client that sends none gets one made here.
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
import pyarrow as pa

EVENT_TYPES = ("view", "click", "purchase", "rating")
EVENT_COLUMNS = (
    "event_id",
    "ts",
    "user_id",
    "item_id",
    "event",
    "value",
    "request_id",
    "model_version",
    "experiment",
    "variant",
)
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event", pa.string()),
        ("value", pa.float64()),
        ("request_id", pa.string()),
        ("model_version", pa.string()),
        ("experiment", pa.string()),
        ("variant", pa.string()),
    ]
)


def new_event_id() -> str:
    """128 random bits as hex (uniqueness is what counts, as for request ids)."""
    return f"{random.getrandbits(128):032x}"


def make_event(
    user_id: str,
    item_id: str,
    event: str,
    value: float | None = None,
    *,
    event_id: str | None = None,
    request_id: str | None = None,
    model_version: str | None = None,
    experiment: str | None = None,
    variant: str | None = None,
    ts: float | None = None,
) -> dict[str, Any]:
    """One event as the journal stores it; ``ts`` is Unix milliseconds (the server's clock)."""
    return {
        "event_id": event_id or new_event_id(),
        "ts": int((time.time() if ts is None else ts) * 1000),
        "user_id": user_id,
        "item_id": item_id,
        "event": event,
        "value": value,
        "request_id": request_id,
        "model_version": model_version,
        "experiment": experiment,
        "variant": variant,
    }


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)
