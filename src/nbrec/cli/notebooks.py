"""``nbrec notebooks run`` and ``nbrec demo``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nbrec.cli.common import console, user_errors
from nbrec.constants import DEFAULT_K, DEFAULT_SEED
from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.notebooks import list_notebooks, read_results, run_notebook
from nbrec.settings import get_settings

app = typer.Typer(help="Execute the notebooks with papermill.", no_args_is_help=True)


@app.command("run")
@user_errors
def run(
    names: list[str] = typer.Argument(None, help="notebooks to run (default: all, in order)"),
    dataset: str = typer.Option("synthetic", help="DATASET parameter passed to each notebook"),
    out: Path = typer.Option(Path("var/notebooks"), help="folder for executed copies and HTML"),
) -> None:
    """Execute notebooks in order; executed copies and HTML go to --out."""
    paths = [Path(n) for n in names] if names else list_notebooks()
    data_dir = str(get_settings().data_dir.resolve())
    for number, path in enumerate(paths, 1):
        results = (out / f"{path.stem}.json").resolve()
        params = {"DATASET": dataset, "DATA_DIR": data_dir, "RESULTS_PATH": str(results)}
        console.print(f"[bold]notebook {number}/{len(paths)}[/bold]: {path.stem}")
        # papermill's bar counts the notebook's cells (tqdm, on stderr)
        run_notebook(path, params, out, progress=True)  # a name in notebooks/ or any path
        console.print(f"  results: {json.dumps(read_results(results))[:300]}", soft_wrap=True)


@user_errors
def demo() -> None:
    """Generate the default data, run every notebook, print the leaderboard."""
    settings = get_settings()
    target = settings.data_dir / "synthetic"
    if not (target / "interactions.parquet").is_file():
        write_parquet_dataset(generate(), target)
        console.print(f"generated the synthetic data set in {target}")
    run(None, "synthetic", settings.var_dir / "notebooks")
    from nbrec.cli.evaluation import leaderboard
    from nbrec.evaluation.leaderboard import DEFAULT_TIME_BUDGET

    # every option explicit: a typer function called directly gets OptionInfo defaults
    leaderboard(dataset="synthetic", models="all", split="stratified", k=DEFAULT_K,
                seed=DEFAULT_SEED, format="table", tune=True, map=None,
                time_budget=DEFAULT_TIME_BUDGET, max_trials=12, quiet=False)  # fmt: skip
