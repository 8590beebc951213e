"""The ``nbrec`` command. Each verb lives in its own module and calls a package function.

Add a verb: write ``cli/<topic>.py`` with a Typer app or command and register it below.
"""

from __future__ import annotations

import typer

from nbrec.cli import (
    data,
    evaluation,
    experiment,
    ingest,
    models,
    notebooks,
    serve,
    simulate,
    train,
)

app = typer.Typer(
    help="nbrec: recommender system from notebooks to production.", no_args_is_help=True
)
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


def main() -> None:  # pragma: no cover - console entry point
    app()
