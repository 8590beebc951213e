"""``nbrec ingest``: one pass of the data loop (journal -> warehouse, RR logs -> archive)."""

from __future__ import annotations

import json

import typer

from nbrec.cli.common import console, user_errors


@user_errors
def ingest(
    events_url: str = typer.Option(
        None, help="journal URL (default NBREC_EVENTS_URL, else the store's Redis, else SQLite)"
    ),
    warehouse: str = typer.Option(None, help="warehouse root or URL (default NBREC_WAREHOUSE)"),
    log_dir: str = typer.Option(None, help="RR log folder to archive (default NBREC_LOG_DIR)"),
    archive_logs: bool = typer.Option(True, help="also archive closed RR log files"),
) -> None:
    """Drain acknowledged events into the Parquet warehouse exactly once; archive RR logs.

    Prints the counts as JSON. Malformed events are quarantined (counted, never dropped).
    Exit 0 when the pass completed; a failure leaves everything in the journal for next time.
    """
    from nbrec.events.ingest import run_ingest

    counts = run_ingest(events_url, warehouse, log_dir, archive_logs=archive_logs)
    print(json.dumps(counts))
    if counts["quarantined"]:
        console.print(
            f"[yellow]{counts['quarantined']} event(s) quarantined[/yellow] under "
            f"{counts['warehouse']}/quarantine/ (each row names the expectation it failed)"
        )
