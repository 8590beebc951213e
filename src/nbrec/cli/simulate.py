"""``nbrec simulate --url URL --users N --requests M``: simulated users against the service."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from nbrec.cli.common import user_errors
from nbrec.constants import DEFAULT_K
from nbrec.errors import BadValueError
from nbrec.experiments.config import INTERLEAVED

console = Console(stderr=True)


@user_errors
def simulate(
    url: str = typer.Option("http://127.0.0.1:3000", help="the service's base URL"),
    users: int = typer.Option(200, min=1, help="simulated users (drawn from the data set's users)"),
    requests: int = typer.Option(1000, min=1, help="recommendation requests to send"),
    k: int = typer.Option(DEFAULT_K, min=1, max=100, help="items per request"),
    dataset: str = typer.Option(
        "synthetic", help="whose users: synthetic (known tastes), a named set or path"
    ),
    p_match: float = typer.Option(0.05, help="click probability of an item to the user's taste"),
    p_other: float = typer.Option(0.01, help="click probability of any other item"),
    seed: int = typer.Option(0, help="random seed of the simulation"),
) -> None:
    """Users with known preferences request recommendations and click by those preferences."""
    from nbrec.data import load_dataset
    from nbrec.experiments.http_sim import run_http
    from nbrec.experiments.simulator import population_for

    for name, p in (("--p-match", p_match), ("--p-other", p_other)):
        if not 0 <= p <= 1:
            raise BadValueError(f"{name} must be a probability in [0, 1], got {p}")
    population = population_for(load_dataset(dataset), seed=seed, p_match=p_match, p_other=p_other)
    try:
        summary = run_http(url, population, users, requests, k=k, seed=seed, progress=True)
    except ConnectionError as exc:
        raise BadValueError(str(exc)) from None
    console.print(
        f"{summary.requests} requests in {summary.seconds:.1f} s, CTR {summary.ctr:.4f}, "
        f"{summary.clicks} clicks, {summary.errors} errors, "
        f"{summary.feedback_errors} clicks refused"
    )
    interleaved = summary.by_variant.get(INTERLEAVED, {}).get("requests", 0)
    if interleaved:
        names = ", ".join(n for n in summary.by_experiment if n != "None")
        console.print(
            f"{interleaved} interleaved answers (team-draft blends of two versions) in {names}: "
            "`nbrec experiment analyze NAME` credits each team from the RR logs"
        )
    print(json.dumps(summary.to_dict(), indent=2))
