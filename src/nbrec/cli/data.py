"""``nbrec data generate|fetch|describe``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nbrec.cli.common import console, user_errors
from nbrec.cli.progress import steps
from nbrec.data import load_dataset, write_parquet_dataset
from nbrec.data.movielens import ARCHIVES
from nbrec.data.movielens import fetch as fetch_archive
from nbrec.data.synthetic import SyntheticConfig
from nbrec.data.synthetic import generate as generate_synthetic
from nbrec.settings import get_settings

app = typer.Typer(help="Generate, fetch and describe data sets.", no_args_is_help=True)


@app.command()
@user_errors
def generate(
    users: int = typer.Option(SyntheticConfig.users, help="number of users"),
    items: int = typer.Option(SyntheticConfig.items, help="number of items"),
    interactions: int = typer.Option(
        SyntheticConfig.interactions, help="number of interaction events"
    ),
    seed: int = typer.Option(SyntheticConfig.seed, help="random seed (same seed, same data)"),
    out: Path = typer.Option(None, help="output folder (default: $NBREC_DATA_DIR/synthetic)"),
) -> None:
    """Generate nbrec's synthetic data set as parquet files."""
    out = out or get_settings().data_dir / "synthetic"
    stages = [f"generate {interactions:,} interactions", f"write parquet to {out}"]
    with steps("data generate", stages) as step:
        step(stages[0])
        dataset = generate_synthetic(users=users, items=items, interactions=interactions, seed=seed)
        step(stages[1])
        write_parquet_dataset(dataset, out)
    console.print(f"wrote {len(dataset.interactions):,} interactions to {out}")


@app.command()
@user_errors
def fetch(
    name: str = typer.Argument(..., help=f"one of {', '.join(ARCHIVES)}"),
    dest: Path = typer.Option(None, help="data dir (default: $NBREC_DATA_DIR)"),
) -> None:
    """Download a MovieLens data set from GroupLens (checks the published checksum)."""
    target = fetch_archive(name, dest or get_settings().data_dir)
    console.print(f"{name} is in {target}")


@app.command()
@user_errors
def describe(dataset: str = typer.Argument("synthetic", help="name or path")) -> None:
    """Print a data set's size, density and time range as JSON."""
    print(json.dumps(load_dataset(dataset).summary(), indent=2))
