"""``nbrec serve`` (the BentoML service) and ``nbrec publish`` (fit a model, publish it)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import typer

from nbrec.cli.common import user_errors
from nbrec.cli.progress import steps
from nbrec.constants import TOP_N
from nbrec.errors import BadValueError, MissingFileError

SERVICE = "nbrec.bento:NbrecService"  # shipped with the package: serves from any directory


@user_errors
def serve(
    port: int = typer.Option(3000, help="HTTP port"),
    host: str = typer.Option("127.0.0.1", help="interface to listen on (0.0.0.0 for all)"),
    store: str = typer.Option(None, help="feature store URL (default NBREC_STORE_URL / SQLite)"),
) -> None:
    """Serve recommendations over HTTP: the BentoML service ``nbrec.bento``."""
    if not 1 <= port <= 65535:
        raise BadValueError(f"--port must be within 1..65535, got {port}")
    if importlib.util.find_spec("bentoml") is None:
        raise MissingFileError("BentoML is missing: `pip install bentoml`")
    from nbrec.settings import get_settings

    # BentoML's home (its scratch files, any model store it opens) under var/ unless set.
    env = {**os.environ, **get_settings().bentoml_env()}
    if store is not None:
        env["NBREC_STORE_URL"] = store
    # BentoML's CLI run by this interpreter: the nbrec it serves is the one running this command.
    args = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--port",
        str(port),
        "--host",
        host,
        "--working-dir",
        os.getcwd(),
    ]
    typer.echo(f"serving on http://{host}:{port}  (try: curl -s -X POST http://{host}:{port}"
               """/recommend -H 'Content-Type: application/json' -d '{"user_id": "u0001", "k": 5}')""",
               err=True)  # fmt: skip
    os.execve(sys.executable, args, env)  # the service owns the process (signals, exit code)


@user_errors
def publish(
    dataset: str = typer.Option("synthetic", help="synthetic, movielens-100k, ... or a file"),
    model: str = typer.Option("popularity", help="a registered model name"),
    version: str = typer.Option(None, help="version name (default: <model>-<UTC time>)"),
    store: str = typer.Option(None, help="feature store URL (default NBREC_STORE_URL / SQLite)"),
    top_n: int = typer.Option(TOP_N, help="precomputed recommendations per user"),
    live: bool = typer.Option(True, help="make the new version live"),
) -> None:
    """Fit MODEL on DATASET and publish it to the feature store, nothing else (no validation,
    gate or registry: that is `nbrec train`)."""
    from nbrec.data import load_dataset
    from nbrec.models import make_model
    from nbrec.pipeline.publish import publish as publish_model

    version = version or f"{model}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    stages = [f"load {dataset}", f"fit {model}", f"publish {version} (top {top_n} per user)"]
    with steps("publish", stages) as step:
        step(stages[0])
        data = load_dataset(dataset)
        step(stages[1])
        fitted = make_model(model).fit(data.interactions, data.items, data.users)
        step(stages[2])
        summary = publish_model(
            fitted, version, store, items=data.items, top_n=top_n, make_live=live
        )
    typer.echo(json.dumps(summary, indent=2))
