"""The ``events`` expectation suite (``expectations/events.json``), row by row.

GX validates every batch the ingester reads, first with the ``BOOLEAN_ONLY`` result format
(the cheap pass: no per-row lists are built; nearly every batch passes). Only a batch that
fails is validated again with ``COMPLETE``, and each failing row is charged to the first
expectation (in the suite's order) that lists it. The GX context is built once per process;
its fixed cost per validation (~0.15 s of graph building) is why the ingester reads big batches.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import pandas as pd

from nbrec.validation.suites import CLOCK_SKEW, load_suite

SUITE = "events"
EARLIEST = pd.Timestamp("2000-01-01T00:00:00Z")


@lru_cache(maxsize=1)
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("nbrec-events").add_dataframe_asset(SUITE)
    spec = load_suite(SUITE)
    suite = gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"])
    return asset.add_batch_definition_whole_dataframe("batch"), suite


def _validate(frame: pd.DataFrame, parameters: dict, result_format: str):
    definition, suite = _batch_definition()
    return definition.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, expectation_parameters=parameters, result_format={"result_format": result_format}
    )


def failed_rows(frame: pd.DataFrame, now: pd.Timestamp | None = None) -> dict[int, str]:
    """Row position -> name of the first expectation of the suite that the row fails.

    ``frame`` has the event columns with a default RangeIndex; ``ts`` is tz-aware UTC.
    """
    if frame.empty:
        return {}
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    parameters = {"earliest": EARLIEST, "now": now + CLOCK_SKEW}
    if _validate(frame, parameters, "BOOLEAN_ONLY").success:
        return {}
    result = _validate(frame, parameters, "COMPLETE")
    failures: dict[int, str] = {}
    for outcome in result.results:
        if outcome.success:
            continue
        name = (outcome.expectation_config.meta or {}).get(
            "name"
        ) or outcome.expectation_config.type
        rows = outcome.result.get("unexpected_index_list")
        if rows is None:  # an expectation about the whole batch: every row is charged
            rows = range(len(frame))
        for row in rows:
            failures.setdefault(int(row), name)
    return failures
