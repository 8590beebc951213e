"""``nbrec leaderboard``."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from nbrec.cli.common import check_format, user_errors
from nbrec.constants import DEFAULT_K, DEFAULT_SEED
from nbrec.data import load_dataset
from nbrec.data.files import parse_mapping
from nbrec.errors import BadValueError
from nbrec.evaluation import run_leaderboard
from nbrec.evaluation.leaderboard import DEFAULT_TIME_BUDGET

console = Console(width=max(Console().width, 160))  # tables go to stdout, never squeezed
COLUMNS = ("ndcg@{k}", "precision@{k}", "recall@{k}", "map@{k}", "mrr@{k}", "coverage",
           "novelty", "personalisation", "validation_ndcg@{k}", "fit_seconds",
           "tuning_seconds")  # fmt: skip


@user_errors
def leaderboard(
    dataset: str = typer.Option(
        "synthetic", help="synthetic, movielens-100k, movielens-latest-small or a file"
    ),
    models: str = typer.Option("random,popularity", help="comma-separated model names, or 'all'"),
    split: str = typer.Option("stratified", help="stratified | temporal | leave-last"),
    k: int = typer.Option(DEFAULT_K, help="cut-off"),
    seed: int = typer.Option(DEFAULT_SEED, help="split seed"),
    format: str = typer.Option("table", help="table | json"),
    tune: bool = typer.Option(True, help="choose hyperparameters on the validation split"),
    map: str = typer.Option(None, help="column mapping for a file: user_id=userId,item_id=movieId"),
    time_budget: float = typer.Option(
        DEFAULT_TIME_BUDGET,
        help="seconds for tuning all models together: each gets a share, a model whose "
        "estimated fits exceed its share is skipped (the reason is printed)",
    ),
    max_trials: int = typer.Option(12, help="tuning trials per model at most"),
    quiet: bool = typer.Option(False, help="no progress lines on stderr"),
) -> None:
    """Every model on the same split; metrics side by side, protocol recorded.

    Progress (one line per model and per tuning trial, and why a model was skipped) goes to
    stderr, so stdout stays the table or the JSON.
    """
    check_format(format)
    if time_budget is not None and time_budget <= 0:
        raise BadValueError(f"--time-budget must be > 0 seconds, got {time_budget}")
    if max_trials < 1:
        raise BadValueError(f"--max-trials must be >= 1, got {max_trials}")
    board = run_leaderboard(
        load_dataset(dataset, mapping=parse_mapping(map)), models, split, k, seed,
        tune_models=tune, max_trials=max_trials, progress=not quiet, time_budget=time_budget,
    )  # fmt: skip
    if format == "json":
        print(
            json.dumps([{**row, "protocol": board.protocol} for row in board.records()], indent=2)
        )
        return
    table = Table(
        title=f"leaderboard: {board.protocol['dataset']} ({board.protocol['split']}, k={k})"
    )
    table.add_column("model")
    names = [c.format(k=k) for c in COLUMNS]
    for name in names:
        table.add_column(name, justify="right")
    for row in board.records():
        table.add_row(
            row["model"], *(f"{row[n]:.4f}" if row.get(n) is not None else "-" for n in names)
        )
    console.print(table)
    console.print(f"protocol: {json.dumps(board.protocol)}")
    console.print(f"champion (best validation ndcg@{k}): [bold]{board.champion}[/bold]")
    for name, reason in board.protocol["skipped"].items():
        console.print(f"skipped {name}: {reason}", markup=False)
