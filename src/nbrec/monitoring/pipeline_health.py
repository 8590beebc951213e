"""Pipeline and data health as Prometheus metrics, read from the pipeline status file.

The pipeline writes ``var/status/pipeline.json`` atomically after every run
(``nbrec.pipeline.status`` owns its path, schema and run statuses). The service registers
:class:`PipelineStatusCollector`, which re-reads that small file on every scrape, so the numbers
are never older than the file and survive service restarts (the counters live in the file, not
in process memory).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nbrec.pipeline.status import STATUSES, status_path

log = logging.getLogger(__name__)


def parse_time(value: str | None) -> float | None:
    """ISO 8601 -> Unix seconds (naive times are taken as UTC); None stays None."""
    if not value:
        return None
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_status(path: Path) -> dict | None:
    """The parsed status file, or None when it is missing or unreadable (logged, never raised)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("pipeline status file %s is unreadable (%s); reporting it as down", path, exc)
        return None


class PipelineStatusCollector(Collector):
    """Exports training and validation health from the pipeline status file at scrape time."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = Path(path) if path is not None else None

    @property
    def path(self) -> Path:
        # Resolved lazily so NBREC_VAR_DIR set after registration is still honoured.
        return self._path if self._path is not None else status_path()

    def describe(self) -> list[Metric]:
        # Describing without reading keeps registration free of file I/O.
        return []

    def collect(self) -> Iterator[Metric]:
        status = read_status(self.path)
        up = GaugeMetricFamily(
            "nbrec_pipeline_status_up",
            "1 if the pipeline status file exists and parses, else 0",
        )
        up.add_metric([], 0.0 if status is None else 1.0)
        yield up
        if status is None:
            return
        try:
            yield from self._training(status)
            yield from self._validation(status.get("validation") or {})
        except (AttributeError, TypeError, ValueError) as exc:
            # A malformed file must not break the whole /metrics page.
            log.warning("pipeline status file %s does not follow the schema: %s", self.path, exc)

    def _training(self, status: dict) -> Iterator[Metric]:
        last_success = GaugeMetricFamily(
            "nbrec_training_last_success_timestamp_seconds",
            "Unix time of the last completed training run (0 if none yet)",
        )
        last_success.add_metric([], parse_time(status.get("last_success_at")) or 0.0)
        yield last_success

        runs = CounterMetricFamily(
            "nbrec_training_runs",
            "Training runs by outcome, from the status file",
            labels=["status"],
        )
        counts = status.get("runs") or {}
        for name in sorted(set(STATUSES) | set(counts)):
            runs.add_metric([name], float(counts.get(name, 0)))
        yield runs

        last_run = status.get("last_run") or {}
        failed = GaugeMetricFamily(
            "nbrec_training_last_run_failed", "1 if the most recent training run failed, else 0"
        )
        failed.add_metric([], 1.0 if last_run.get("status") == "failed" else 0.0)
        yield failed
        finished = parse_time(last_run.get("finished_at"))
        if finished is not None:
            when = GaugeMetricFamily(
                "nbrec_training_last_run_timestamp_seconds",
                "Unix time the most recent training run finished",
                labels=["status"],
            )
            when.add_metric([str(last_run.get("status"))], finished)
            yield when

    def _validation(self, suites: dict) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "nbrec_data_validation_success",
            "1 if the latest validation of the suite passed, else 0",
            labels=["suite"],
        )
        failed = GaugeMetricFamily(
            "nbrec_data_validation_failed_expectations",
            "Number of failed expectations in the latest validation of the suite",
            labels=["suite"],
        )
        when = GaugeMetricFamily(
            "nbrec_data_validation_timestamp_seconds",
            "Unix time of the latest validation of the suite",
            labels=["suite"],
        )
        for suite, result in sorted(suites.items()):
            success.add_metric([suite], 1.0 if result.get("success") else 0.0)
            failed.add_metric([suite], float(len(result.get("failed_expectations") or [])))
            at = parse_time(result.get("at"))
            if at is not None:
                when.add_metric([suite], at)
        yield success
        yield failed
        yield when
