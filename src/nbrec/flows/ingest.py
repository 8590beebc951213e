"""Ingestion flow: acknowledged events and closed RR logs into the Parquet warehouse.

Thin on purpose: one task, one package call (``nbrec.events.ingest.run_ingest``). Run once with
``python flows/ingest.py --once`` (the entry point calls ``main``); serve it on its schedule
(every minute by default) with ``python flows/ingest.py``. One run at a time (the journal has one ingester): the served
deployment runs one flow run at a time (``limit=1``).
"""

from __future__ import annotations

import argparse

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from nbrec.events.ingest import run_ingest

EVERY_MINUTE = "* * * * *"


@task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=10)
def ingest_pass(events_url: str | None, warehouse: str | None, log_dir: str | None) -> dict:
    # Retries are safe: a pass that failed before acknowledging is re-read and deduplicated.
    return run_ingest(events_url, warehouse, log_dir)


@flow(name="ingest", log_prints=True)
def ingest(
    events_url: str | None = None, warehouse: str | None = None, log_dir: str | None = None
) -> dict:
    """Drain the journal into the warehouse exactly once and archive closed RR logs."""
    counts = ingest_pass(events_url, warehouse, log_dir)
    print(f"ingest: {counts}")
    return counts


def main(argv: list[str] | None = None) -> None:
    """``python flows/ingest.py [--once] [--cron ...]``: run now, or serve on the schedule."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--once", action="store_true", help="run now instead of serving the schedule"
    )
    parser.add_argument(
        "--cron", default=EVERY_MINUTE, help="schedule when serving (default every minute)"
    )
    args = parser.parse_args(argv)
    if args.once:
        ingest()
    else:
        ingest.serve(name="ingest", cron=args.cron, limit=1)
