"""The ``nbrec`` command. Each verb lives in its own module and calls a package function.

Add a verb: write ``cli/<topic>.py`` with a Typer app or command and register it below.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import typer

from nbrec.cli import (
    bi,
    common,
    data,
    evaluation,
    experiment,
    ingest,
    models,
    notebooks,
    progress,
    serve,
    simulate,
    status,
    train,
)

app = typer.Typer(
    help="nbrec: recommender system from notebooks to production.", no_args_is_help=True
)


def _version(show: bool) -> None:
    if show:
        try:
            found = package_version("nbrec")
        except PackageNotFoundError:  # running from a checkout without installing
            found = "unknown (not installed: pip install -e .)"
        typer.echo(f"nbrec {found}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
    debug: bool = typer.Option(
        False, "--debug", help="show the traceback of every error, user errors included"
    ),
) -> None:
    """nbrec: recommender system from notebooks to production."""
    common.OPTIONS["debug"] = debug
    progress.quiet_defaults()


app.add_typer(data.app, name="data")
app.add_typer(notebooks.app, name="notebooks")
app.command("leaderboard")(evaluation.leaderboard)
app.command("demo")(notebooks.demo)
app.command("train")(train.train)
app.add_typer(models.app, name="models")
app.command("serve")(serve.serve)
app.command("publish")(serve.publish)
app.add_typer(experiment.app, name="experiment")
app.command("simulate")(simulate.simulate)
app.command("ingest")(ingest.ingest)
app.command("status")(status.status)
app.command("bi")(bi.bi)


def main() -> None:  # pragma: no cover - console entry point
    app()
