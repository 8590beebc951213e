"""``nbrec experiment list | assign USER | analyze NAME | aa``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nbrec.cli.common import check_format, user_errors
from nbrec.errors import MissingFileError

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
        raise MissingFileError(
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
    from nbrec.experiments.history import pre_period
    from nbrec.rrlog.reader import read_rr_logs
    from nbrec.settings import get_settings

    check_format(format)
    experiment = find_experiment(_experiments(folder), name)
    from nbrec.events.reader import rr_table

    # The warehouse's archived RR lines plus the JSONL tail not archived yet (nbrec.events);
    # every line, not only the experiment's: users' earlier requests are CUPED's covariate.
    folder_of_logs = log_dir or get_settings().logs_path
    lines = rr_table(folder_of_logs)
    if experiment.type == "interleaving":
        _analyze_interleaving(experiment, folder_of_logs, lines, format, out)
        return
    requests, feedback = read_rr_logs(folder_of_logs, lines=lines)
    report = run(experiment, requests, feedback, covariates=pre_period(requests, feedback, name))
    if _write_report(report.to_dict(), out, format):
        return
    table = Table(title=f"experiment {name}")
    table.add_column("variant")
    for column in SHOWN:
        table.add_column(column, justify="right")
    for variant, row in report.metrics.iterrows():
        table.add_row(str(variant), *(_fmt(row[c]) for c in SHOWN))
    console.print(table)
    for c in report.comparisons:
        seq, ci, cuped = c.get("sequential") or {}, c.get("lift_ci"), c.get("cuped")
        console.print(f"[bold]{c['treatment']} vs {c['control']}[/bold]: lift {_fmt(c['lift'])}")
        if seq:
            low, high = seq["ci"]
            av = seq["always_valid"]
            console.print(
                f"  sequential ({seq['design']}; read any day): z={seq['z']:+.2f}, boundary "
                f"{_fmt(seq['boundary'])}, information {seq['information_fraction']:.0%}, repeated "
                f"CI [{_fmt(low)}, {_fmt(high)}] over {seq['reads']} daily reads -> "
                f"{'[green]may stop[/green]' if seq['may_stop'] else 'keep running'}: {seq['why']}"
            )
            console.print(f"  always-valid mSPRT (continuous monitoring): p={_fmt(av['p_value'])}, "
                          f"CI [{_fmt(av['ci'][0])}, {_fmt(av['ci'][1])}]")  # fmt: skip
            rails = ", ".join(f"{g} p={_fmt(r['p_value'])}{' WORSE' if r['harm'] else ''}"
                              for g, r in seq["guardrails"].items())  # fmt: skip
            console.print(f"  sequential guardrails: {rails}")
        console.print(
            f"  fixed horizon (valid read once at {c.get('required_users')} users per arm): "
            f"Welch p={_fmt(c['p_value'])}"
            f"{f' bootstrap CI [{ci[0]:+.4f}, {ci[1]:+.4f}]' if ci else ''}, "
            f"request CTR (delta method) p={_fmt(c['ratio_p_value'])}; users {c.get('users')}"
        )
        if cuped:
            console.print(
                f"  CUPED (pre-period CTR of {cuped['users_with_pre_period']} users): lift "
                f"{_fmt(cuped['lift'])}, p={_fmt(cuped['p_value'])}, variance "
                f"-{cuped['variance_reduction']:.0%}"
            )
    console.print(
        f"SRM: p={_fmt(report.srm['p_value'])} {'[red]FLAGGED[/red]' if report.srm['flagged'] else 'ok'}"
    )
    for reason in report.reasons:
        console.print(f"  - {reason}")
    console.print(
        f"verdict ({experiment.test.replace('_', '-')} test): [bold]{report.verdict}[/bold]"
    )


def _analyze_interleaving(experiment, log_dir: Path, lines, format: str, out: Path | None) -> None:
    """Per-user preference and its tests, the credit recomputed from the logged teams and clicks."""
    from nbrec.experiments.interleaving_readout import read_logged

    report = read_logged(experiment, log_dir, lines)
    names = (report["team_a"], report["team_b"])
    if _write_report(report, out, format):
        return
    a, b = names
    console.print(
        f"[bold]interleaving {experiment.name}[/bold]: {a} (team a) vs {b} (team b), "
        f"{report['requests']} answers of {report['users']} users; wins {a} "
        f"{report['wins_a']}, {b} {report['wins_b']}, ties {report['ties']}"
    )
    console.print(
        f"  mean per-user preference for {b}: {_fmt(report['mean_preference'])}, t-test "
        f"p={_fmt(report['t_p_value'])}; users preferring {a} {report['prefer_a']}, {b} "
        f"{report['prefer_b']}, sign test p={_fmt(report['sign_p_value'])}"
    )
    console.print(
        f"verdict (alpha {experiment.alpha:g}): [bold]{report['winner'] or 'no winner yet'}[/bold]"
    )


@app.command("aa")
@user_errors
def aa(
    runs: int = typer.Option(1000, min=10, help="A/A experiments to simulate"),
    peeks: int = typer.Option(14, min=1, help="equally spaced reads of each (e.g. daily)"),
    users: int = typer.Option(2000, min=20, help="users per experiment at its end"),
    mde: float = typer.Option(
        None, min=1e-6, help="MDE the design is planned for (default: its maximum is the last peek)"
    ),
    power: float = typer.Option(0.8, min=0.5, max=0.99, help="planned power at the MDE"),
    alpha: float = typer.Option(0.05, min=1e-6, max=0.5),
    seed: int = typer.Option(0),
    format: str = typer.Option("table", help="table | json"),
) -> None:
    """Check the platform on a traffic model: false-positive rates when peeking at A/A tests.

    Users make Zipf(1.5) requests capped at 200 and click at Beta(0.5, 2) rates. Each A/A
    experiment is read at PEEKS equally spaced days: naive_fpr is the share of experiments a
    fixed-horizon test read at every peek called significant; sequential_fpr the experiment's
    stop rule's (group-sequential, the maximum sample planned at the last peek unless --mde is
    given); msprt_fpr the always-valid mSPRT's. Fixed-horizon rates read once come alongside.
    """
    from nbrec.experiments.peeking import aa_peeking
    from nbrec.experiments.traffic import Traffic

    check_format(format)
    result = aa_peeking(Traffic(), runs, users, peeks, alpha=alpha, mde=mde, power=power, seed=seed)
    summary = {
        "runs": runs, "peeks": peeks, "users": users, "alpha": alpha, "mde": result["mde"],
        "max_users_per_arm": result["max_users_per_arm"],
        "naive_fpr": result["naive"]["rate"], "naive_fpr_ci": result["naive"]["ci"],
        "sequential_fpr": result["sequential"]["rate"], "sequential_fpr_ci": result["sequential"]["ci"],
        "msprt_fpr": result["msprt"]["rate"], "msprt_fpr_ci": result["msprt"]["ci"],
        "fixed_horizon_fpr": {k: v["rate"] for k, v in result["fixed_horizon"].items()},
        "cuped_variance_reduction": result["cuped_variance_reduction"],
    }  # fmt: skip
    if format == "json":
        print(json.dumps(summary, indent=2))
        return
    table = Table(
        title=f"A/A: {runs} experiments x {users} users, read {peeks} times, alpha {alpha:g}"
    )
    for column in ("test", "false-positive rate", "95% CI"):
        table.add_column(column)
    table.add_row("naive: fixed-horizon Welch read at every peek", f"{summary['naive_fpr']:.3f}",
                  "[{:.3f}, {:.3f}]".format(*summary["naive_fpr_ci"]))  # fmt: skip
    table.add_row("sequential: group-sequential stop rule read at every peek", f"{summary['sequential_fpr']:.3f}",
                  "[{:.3f}, {:.3f}]".format(*summary["sequential_fpr_ci"]))  # fmt: skip
    table.add_row("always-valid mSPRT read at every peek", f"{summary['msprt_fpr']:.3f}",
                  "[{:.3f}, {:.3f}]".format(*summary["msprt_fpr_ci"]))  # fmt: skip
    for name, read in result["fixed_horizon"].items():
        table.add_row(f"fixed horizon, read once: {name}", f"{read['rate']:.3f}",
                      "[{:.3f}, {:.3f}]".format(*read["ci"]))  # fmt: skip
    console.print(table)


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


def _write_report(report: dict, out: Path | None, format: str) -> bool:
    """Save the report as JSON to ``out`` (if given); print it and say so when format is json."""
    payload = json.dumps(report, indent=2, default=_plain)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(payload)
    if format == "json":
        print(payload)
    return format == "json"
