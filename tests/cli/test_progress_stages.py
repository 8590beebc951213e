"""The stage times ``nbrec train`` prints, from the Prefect log records its progress bar sees."""

from __future__ import annotations

import logging

import pytest
from rich.progress import Progress

from nbrec.cli.progress import _TaskRunWatcher


def record(at: float, message: str, task: str | None = None) -> logging.LogRecord:
    rec = logging.LogRecord("prefect.task_runs", logging.INFO, __file__, 1, message, None, None)
    rec.created, rec.flow_run_name = at, "run"
    if task:
        rec.task_run_name = task
    return rec


def test_stage_seconds_from_consecutive_task_ends():
    progress = Progress(disable=True)
    watcher = _TaskRunWatcher(progress, progress.add_task("x", title="t"))
    for rec in [
        record(100.0, "Beginning flow run"),
        record(101.5, "Finished in state Completed()", "take_snapshot-1a"),
        record(111.5, "Finished in state Completed()", "validate_inputs-2b"),
        record(115.0, "Finished in state Completed()", "score_shard-0"),
        record(117.0, "Finished in state Completed()", "score_shard-1"),  # shards add up
        record(118.0, "Finished in state Completed()", "validate_recommendations-3"),
        record(130.0, "Finished in state Completed()", "publish-4"),
        record(133.0, "Finished in state Completed()", "validate_recommendations-5"),
    ]:
        watcher.emit(rec)
    assert watcher.stage_seconds() == pytest.approx({
        "take_snapshot": 1.5, "validate_inputs": 10.0, "score_shard": 5.5,
        "validate_recommendations": 4.0, "publish": 12.0,
    })  # fmt: skip
