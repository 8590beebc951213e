"""``nbrec models list | promote VERSION | rollback``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from nbrec.cli.common import console as err_console
from nbrec.cli.common import user_errors

app = typer.Typer(help="Registered model versions and the live pointer.", no_args_is_help=True)
console = Console()  # tables go to stdout


@app.command("list")
@user_errors
def list_models(format: str = typer.Option("table", help="table | json")) -> None:
    """Registered versions, newest first: created, model, validation metric, live or not."""
    from nbrec.pipeline.lifecycle import models_table

    frame = models_table()
    if format == "json":
        print(frame.to_json(orient="records", indent=2))
        return
    if frame.empty:
        err_console.print("no registered model versions yet: run `nbrec train`")
        return
    metric = frame["metric"].dropna().iloc[0] if frame["metric"].notna().any() else "metric"
    table = Table(title=f"model versions (validation {metric})")
    shown = ["version", "created", "model", "candidate", "popularity", "live"]
    for column in shown:
        table.add_column(metric if column == "candidate" else column, no_wrap=True)
    for row in frame[shown].itertuples(index=False):
        table.add_row(*(_cell(v) for v in row), style="bold green" if row.live else None)
    console.print(table)


@app.command("promote")
@user_errors
def promote(version: str = typer.Argument(..., help="a version from `nbrec models list`")) -> None:
    """Make VERSION live (published from the registry first when needed)."""
    from nbrec.pipeline.lifecycle import promote as do_promote

    err_console.print(f"live: {do_promote(version)}")


@app.command("rollback")
@user_errors
def rollback() -> None:
    """Make the previously live version live again."""
    from nbrec.pipeline.lifecycle import rollback as do_rollback

    err_console.print(f"rolled back; live: {do_rollback()}")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, bool):
        return "yes" if value else ""
    return "" if value is None else str(value)
