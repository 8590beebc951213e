"""The RR log schema: one JSON object per line, ``kind`` = request | exposure | feedback.

Every line carries ``ts`` (ISO 8601 UTC, added by the writer), ``kind``, ``request_id``,
``user_id``, ``model_version``, ``experiment`` and ``variant``. Request lines add ``k``,
``items``, ``scores``, ``propensities``, ``fallback``, ``latency_ms``, ``status``, ``endpoint``
(and ``policy`` for a bandit variant, ``item_id`` for /similar_items, ``error`` when refused;
an interleaved answer adds ``policy``, ``teams``, the team of each item, ``"a"``/``"b"``, and
``versions``, the two model versions blended);
exposure lines ``items`` and ``propensities``; feedback lines ``item_id``, ``event``, ``value``.
The service, the simulators and the fake logs build lines with these functions only; the
readers (experiment analysis, product report) read the columns named here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

LOG_PATTERN = "rr-*.jsonl"
KINDS = ("request", "exposure", "feedback")
MAX_ERROR_CHARS = 500
# Every column the readers use, with its DuckDB type (the product report reads these).
COLUMNS = {
    "ts": "TIMESTAMPTZ",
    "kind": "VARCHAR",
    "request_id": "VARCHAR",
    "user_id": "VARCHAR",
    "model_version": "VARCHAR",
    "experiment": "VARCHAR",
    "variant": "VARCHAR",
    "items": "VARCHAR[]",
    "fallback": "VARCHAR",
    "latency_ms": "DOUBLE",
    "status": "INTEGER",
    "item_id": "VARCHAR",
    "event": "VARCHAR",
}
# The columns of the experiment analysis' frames (``n_items`` is ``len(items)``).
REQUEST_COLUMNS = ["ts", "request_id", "user_id", "model_version", "experiment", "variant", "k",
                   "n_items", "latency_ms", "status", "fallback", "endpoint"]  # fmt: skip
FEEDBACK_COLUMNS = ["ts", "request_id", "user_id", "model_version", "experiment", "variant",
                    "item_id", "event", "value"]  # fmt: skip


_SECOND: tuple[int, str] = (0, "1970-01-01T00:00:00")  # the last second formatted


def iso_utc(stamp: float) -> str:
    """Unix time as ISO 8601 UTC with milliseconds: 2026-11-29T08:30:00.123Z.

    The same text as ``datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")``
    (microseconds rounded half to even, then cut to milliseconds), with the date and time of
    the second formatted once per second: the log writer stamps every line.
    """
    global _SECOND
    frac, whole = math.modf(stamp)
    second, micros = int(whole), round(frac * 1e6)
    if micros < 0:  # before 1970
        second, micros = second - 1, micros + 1_000_000
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    cached = _SECOND  # one read: another thread may replace it meanwhile
    if cached[0] != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached = _SECOND = (second, text)
    return f"{cached[1]}.{micros // 1000:03d}Z"


def request_line(
    request_id: str, user_id: str | None, model_version: str | None, experiment: str | None,
    variant: str | None, *, k: int | None, items: list, scores: list,
    propensities: list | None, fallback: str | None, latency_ms: float | None,
    status: int = 200, endpoint: str = "/recommend", **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """An answered (or refused) request; ``extra``: ``policy``, ``item_id``, ``error``, ``ts``."""
    return {
        "kind": "request", "request_id": request_id, "user_id": user_id,
        "model_version": model_version, "experiment": experiment, "variant": variant, "k": k,
        "items": items, "scores": scores, "propensities": propensities, "fallback": fallback,
        "latency_ms": latency_ms, "status": status, "endpoint": endpoint, **extra,
    }  # fmt: skip


def error_line(
    request_id: str, user_id: str | None, model_version: str | None, endpoint: str, status: int,
    error: str, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """A refused request (4xx/5xx): no items, so the logs account for every request."""
    return request_line(
        request_id, user_id, model_version, None, None, k=None, items=[], scores=[],
        propensities=None, fallback=None, latency_ms=None, status=status, endpoint=endpoint,
        error=error[:MAX_ERROR_CHARS], **extra,
    )  # fmt: skip


def exposure_line(
    request_id: str, user_id: str | None, model_version: str | None, experiment: str | None,
    variant: str | None, items: list, propensities: list | None,
) -> dict[str, Any]:  # fmt: skip
    """What an experiment's user was shown (the analysis' exposure record)."""
    return {
        "kind": "exposure", "request_id": request_id, "user_id": user_id,
        "model_version": model_version, "experiment": experiment, "variant": variant,
        "items": items, "propensities": propensities,
    }  # fmt: skip


def feedback_line(
    request_id: str | None, user_id: str | None, model_version: str | None,
    experiment: str | None, variant: str | None, item_id: str, event: str,
    value: float | None = None, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """A user's interaction with an item (``extra``: ``ts`` for logs written after the fact)."""
    return {
        "kind": "feedback", "request_id": request_id, "user_id": user_id,
        "model_version": model_version, "experiment": experiment, "variant": variant,
        "item_id": item_id, "event": event, "value": value, **extra,
    }  # fmt: skip
