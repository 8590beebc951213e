"""``nbrec train``: run the Prefect training flow once, here and now."""

from __future__ import annotations

import logging

import typer

from nbrec.cli.common import console, user_errors
from nbrec.cli.progress import flow_progress
from nbrec.constants import DEFAULT_K, TOP_N

# Exit codes a scheduler or a Makefile can act on.
EXIT_REJECTED = 3
EXIT_INVALID_DATA = 4


@user_errors
def train(
    dataset: str = typer.Option(
        "synthetic", help="synthetic, movielens-100k, movielens-latest-small, a folder or file"
    ),
    model: str = typer.Option(
        None, help="model name, 'a,b', or 'auto' (default: NBREC_TRAIN_MODEL, auto)"
    ),
    k: int = typer.Option(DEFAULT_K, help="recommendations per user that are validated"),
    notebooks: str = typer.Option(
        None,
        help="notebooks to execute, e.g. 01_framing ('' for none; default NBREC_TRAIN_NOTEBOOKS)",
    ),
    tune: bool = typer.Option(False, help="tune hyperparameters on the validation split"),
    margin: float = typer.Option(
        None, help="gate: required lead over popularity (NBREC_GATE_MARGIN)"
    ),
    tolerance: float = typer.Option(
        None, help="gate: allowed deficit vs the live model (NBREC_GATE_TOLERANCE)"
    ),
    top_n: int = typer.Option(
        TOP_N, help="recommendations per user published to the feature store"
    ),
    events: str = typer.Option(
        None, help="'warehouse': also train on the warehouse's events (default NBREC_TRAIN_EVENTS)"
    ),
    window: str = typer.Option(
        None, help="events inside this window: 90d, 12h, 2w (default NBREC_TRAIN_WINDOW)"
    ),
    event_weights: str = typer.Option(
        None,
        help="weight per event type: view=1,click=3,purchase=5,rating=value (NBREC_EVENT_WEIGHTS)",
    ),
    half_life_days: float = typer.Option(
        None, help="decay: an event's weight halves per this many days of age (0: none)"
    ),
) -> None:
    """Snapshot, validate, train, gate, register and publish a model version.

    Exit 0: a version is live. 3: the gate rejected the candidate (production unchanged).
    4: the data failed validation (the message names the expectations and the report).
    """
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from nbrec.data.schema import DataError
    from nbrec.flows import training as flows  # imports Prefect, which sets up its logging
    from nbrec.pipeline.prefect_server import local_server
    from nbrec.validation import ValidationFailed

    _without_tracebacks((ValidationFailed, DataError))
    names = None if notebooks is None else [n.strip() for n in notebooks.split(",") if n.strip()]
    try:
        # Prefect's own temporary server would outlive this process if it were killed (OOM
        # killer, kill -9): the one started here dies with it.
        with (
            flow_progress("train"),
            local_server(services=False) as url,
            temporary_settings({PREFECT_API_URL: url}),
        ):
            try:
                result = flows.run_training(
                    dataset=dataset, model=model, k=k, notebooks=names, tune=tune,
                    margin=margin, tolerance=tolerance, top_n=top_n, events=events,
                    window=window, event_weights=event_weights, half_life_days=half_life_days,
                )  # fmt: skip
            finally:  # Prefect ships its logs in the background: all of them, before it stops
                APILogHandler().flush()
    except ValidationFailed as exc:
        console.print(f"[red]validation failed:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(EXIT_INVALID_DATA) from None
    if result["status"] == "rejected":
        console.print(
            f"[yellow]rejected:[/yellow] {result['reason']} (live version unchanged: {result['live']})",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_REJECTED)
    console.print(
        f"[green]live:[/green] {result['version']} ({result['model']}): {result['reason']}",
        soft_wrap=True,
    )


class _DropTraceback(logging.Filter):
    """Keep the log line of an expected error (bad data), drop its traceback."""

    def __init__(self, expected: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.expected):
            record.exc_info, record.exc_text = None, None
        return True


def _without_tracebacks(expected: tuple[type[BaseException], ...]) -> None:
    """Prefect logs every failed task and flow with its traceback; for bad data the user needs
    the one clear message this command prints, not a screenful of Prefect internals."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler) and not any(
                isinstance(f, _DropTraceback) for f in handler.filters
            ):
                handler.addFilter(_DropTraceback(expected))
