"""The data loop's health: ``var/status/ingest.json`` and the Prometheus metrics read from it.

``nbrec ingest`` is a batch job: it adds its counts to the status file (atomically, under a
lock), and the service's collector re-reads the file at every scrape, so the counters survive
restarts and never depend on a push gateway. The RR-archive lag is measured at scrape time
from the log folder itself: the age of the oldest closed log file not yet archived.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nbrec.jsonfile import locked_json, read_json

log = logging.getLogger(__name__)
COUNTERS = {
    "ingested": "Events written into the warehouse (exactly once per event_id)",
    "duplicates": "Events read again and skipped: their event_id was already in the warehouse",
    "quarantined": "Events that failed the events suite, kept in the warehouse's quarantine/",
    "rr_files_archived": "RR log files archived into the warehouse as Parquet",
    "rr_lines_archived": "RR log lines archived into the warehouse",
    "rr_lines_unreadable": "RR log lines that could not be parsed when archived (cut short)",
}


def status_path() -> Path:
    from nbrec.settings import get_settings

    return get_settings().var_dir / "status" / "ingest.json"


def _empty() -> dict:
    return {"totals": dict.fromkeys(COUNTERS, 0), "last_success": None, "failures": {}}


def read_status(path: Path | None = None) -> dict:
    return read_json(path or status_path(), _empty)


def updating(path: Path | None = None) -> contextlib.AbstractContextManager[dict]:
    """The status to change in place, written back atomically under an exclusive lock."""
    return locked_json(path or status_path(), _empty)


def record(counts: dict[str, int], failures: dict[str, int] | None = None) -> dict:
    """Add one pass's counts (keys of COUNTERS) and mark it as the last success."""
    with updating() as status:
        totals = status.setdefault("totals", {})
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + int(value)
        for name, value in (failures or {}).items():
            status.setdefault("failures", {})[name] = status["failures"].get(name, 0) + value
        status["last_success"] = time.time()
    return status


class LoopStatusCollector(Collector):
    """``nbrec_events_*`` and ``nbrec_rr_archive_*`` metrics, read at scrape time."""

    def __init__(self, log_dir: Path | None = None, path: Path | None = None):
        self.log_dir, self._path = log_dir, path

    def describe(self) -> list[Metric]:
        return []  # registration does no file I/O

    def collect(self) -> Iterator[Metric]:
        status = read_status(self._path or status_path())
        totals = status.get("totals", {})
        for key, doc in COUNTERS.items():
            family = "events" if not key.startswith("rr_") else "rr_archive"
            name = key.removeprefix("rr_")
            yield CounterMetricFamily(f"nbrec_{family}_{name}", doc, value=totals.get(key, 0))
        quarantined = CounterMetricFamily(
            "nbrec_events_quarantined_by_expectation",
            "Quarantined events by the expectation they failed", labels=["expectation"],
        )  # fmt: skip
        for name, value in status.get("failures", {}).items():
            quarantined.add_metric([name], value)
        yield quarantined
        last = status.get("last_success")
        yield GaugeMetricFamily(
            "nbrec_ingest_last_success_timestamp_seconds",
            "When nbrec ingest last finished a pass (0: never)", value=last or 0,
        )  # fmt: skip
        if self.log_dir is not None:
            from nbrec.events.rr_archive import unarchived_files

            files = unarchived_files(self.log_dir)
            oldest = min((f.stat().st_mtime for f in files), default=None)
            yield GaugeMetricFamily(
                "nbrec_rr_archive_pending_files",
                "Closed RR log files not yet archived into the warehouse", value=len(files),
            )  # fmt: skip
            yield GaugeMetricFamily(
                "nbrec_rr_archive_lag_seconds",
                "Age of the oldest closed RR log file not yet archived (0: none waiting)",
                value=0 if oldest is None else max(0.0, time.time() - oldest),
            )
