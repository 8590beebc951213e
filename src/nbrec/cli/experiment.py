"""``nbrec experiment list | assign USER | analyze NAME``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nbrec.cli.common import user_errors

app = typer.Typer(
    help="Experiments: what runs, who gets what, and did it help.", no_args_is_help=True
)
console = Console()  # tables go to stdout
SHOWN = (
    "users",
    "requests",
    "ctr",
    "ctr_low",
    "ctr_high",
    "latency_p95",
    "empty_rate",
    "error_rate",
)


def _experiments(folder: Path | None):
    from nbrec.experiments.config import load_experiments
    from nbrec.settings import get_settings

    folder = folder or get_settings().experiments_dir
    found = load_experiments(folder)
    if not found:
        raise FileNotFoundError(
            f"no experiments (*.yaml) in {folder}: see experiments/ in the repository"
        )
    return found


DIR = typer.Option(None, "--dir", help="folder of *.yaml (default NBREC_EXPERIMENTS_DIR)")


@app.command("list")
@user_errors
def list_experiments(folder: Path = DIR) -> None:
    """Every experiment: layer, traffic, holdout, schedule, variants, running now or not."""
    table = Table(title="experiments")
    for column in ("name", "layer", "traffic", "holdout", "start", "end", "running", "variants"):
        table.add_column(column)
    for exp in _experiments(folder):
        variants = ", ".join(
            f"{v.name}={v.allocation:g}:{v.policy or v.model_version}" for v in exp.variants
        )
        table.add_row(exp.name, exp.layer, f"{exp.traffic:g}", f"{exp.holdout:g}", str(exp.start or "-"),
                      str(exp.end or "-"), "yes" if exp.is_running() else "no", variants)  # fmt: skip
    console.print(table)


@app.command("assign")
@user_errors
def assign(user_id: str = typer.Argument(..., help="a user id"), folder: Path = DIR) -> None:
    """Where USER goes right now: experiment, variant, model version (null = live)."""
    from nbrec.experiments.assignment import ExperimentRouter

    print(json.dumps(ExperimentRouter(_experiments(folder)).route(user_id)._asdict()))


@app.command("analyze")
@user_errors
def analyze(
    name: str = typer.Argument(..., help="experiment name (see `nbrec experiment list`)"),
    log_dir: Path = typer.Option(
        None, help="folder of rr-*.jsonl (default NBREC_LOG_DIR or var/logs)"
    ),
    folder: Path = DIR,
    format: str = typer.Option("table", help="table | json"),
    out: Path = typer.Option(None, help="also write the JSON report here"),
) -> None:
    """Per-variant metrics, tests, SRM, power and guardrails from the RR logs, and the verdict."""
    from nbrec.experiments.analysis import analyze as run
    from nbrec.experiments.config import find_experiment
    from nbrec.rrlog.reader import read_rr_logs
    from nbrec.settings import get_settings

    if format not in {"table", "json"}:
        raise ValueError(f"--format must be table or json, got {format!r}")
    experiment = find_experiment(_experiments(folder), name)
    requests, feedback = read_rr_logs(log_dir or get_settings().logs_path, name)
    report = run(experiment, requests, feedback)
    payload = json.dumps(report.to_dict(), indent=2, default=_plain)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(payload)
    if format == "json":
        print(payload)
        return
    table = Table(title=f"experiment {name}")
    table.add_column("variant")
    for column in SHOWN:
        table.add_column(column, justify="right")
    for variant, row in report.metrics.iterrows():
        table.add_row(str(variant), *(_fmt(row[c]) for c in SHOWN))
    console.print(table)
    for c in report.comparisons:
        ci = c.get("lift_ci")
        console.print(
            f"{c['treatment']} vs {c['control']}: lift {_fmt(c['lift'])}"
            f"{f' [{ci[0]:+.4f}, {ci[1]:+.4f}]' if ci else ''}, Welch p={_fmt(c['p_value'])}, "
            f"z-test p={_fmt(c['z_p_value'])}, users {c.get('users')} / needed {c.get('required_users')}"
        )
    console.print(
        f"SRM: p={_fmt(report.srm['p_value'])} {'[red]FLAGGED[/red]' if report.srm['flagged'] else 'ok'}"
    )
    for reason in report.reasons:
        console.print(f"  - {reason}")
    console.print(f"verdict: [bold]{report.verdict}[/bold]")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        # Counts come out of a mixed-type row as floats: 448.0 reads better as 448.
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)
