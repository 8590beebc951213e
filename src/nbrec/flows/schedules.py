"""Serve the scheduled deployments: daily retraining, hourly monitoring, the hourly product report,
ingestion into the warehouse every minute.

``python flows/serve.py`` (``make schedule``; the entry point calls ``main``) runs them until interrupted, on the Prefect server
at ``PREFECT_API_URL`` or on a local one it starts (the ephemeral server has no scheduler).
Schedules are Prefect cron schedules, overridden with ``--train-cron`` / ``--monitor-cron``
(the report follows the monitoring's).
"""

from __future__ import annotations

import argparse
import signal
import sys

from prefect import serve

from nbrec.pipeline.prefect_server import local_server

TRAIN_CRON = "0 3 * * *"  # daily, 03:00 UTC
MONITOR_CRON = "0 * * * *"  # hourly
INGEST_CRON = "* * * * *"  # every minute: events and closed RR logs into the warehouse


def deployments(
    train_cron: str = TRAIN_CRON, monitor_cron: str = MONITOR_CRON, dataset: str = "synthetic"
) -> list:
    """The deployments with their schedules (building them contacts no server)."""
    from nbrec.flows.ingest import ingest
    from nbrec.flows.monitoring import monitoring
    from nbrec.flows.report import performance_report as report
    from nbrec.flows.training import training

    return [
        training.to_deployment(
            name="daily-retraining", cron=train_cron, parameters={"dataset": dataset}
        ),
        monitoring.to_deployment(name="hourly-monitoring", cron=monitor_cron),
        # The product dashboard is refreshed with the monitoring.
        report.to_deployment(name="hourly-report", cron=monitor_cron),
        # One ingester at a time per journal (nbrec.events.ingest).
        ingest.to_deployment(name="ingest", cron=INGEST_CRON, concurrency_limit=1),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-cron", default=TRAIN_CRON)
    parser.add_argument("--monitor-cron", default=MONITOR_CRON)
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args(argv)
    # `kill` (SIGTERM) should stop the local server too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with local_server() as url, temporary_settings({PREFECT_API_URL: url}):
        print(f"Prefect API and UI: {url.removesuffix('/api')}")
        serve(*deployments(args.train_cron, args.monitor_cron, args.dataset))
