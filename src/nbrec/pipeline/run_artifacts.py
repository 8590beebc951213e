"""What a run decided, as Prefect artifacts: the Prefect UI tells the story of each run.

Training: the leaderboard of the candidates (table), the gate decision (markdown), the
validation of every suite the run checked (table, and links to the reports and the Data Docs)
and the version it published (markdown). Monitoring and report runs: their findings likewise.
Called from inside a flow run (``create_*_artifact`` attach to the current run); keys are
stable, so the UI's Artifacts page shows each one's history across runs.
"""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

KEYS = {
    "leaderboard": "nbrec-leaderboard",
    "gate": "nbrec-gate-decision",
    "validation": "nbrec-validation",
    "published": "nbrec-published-version",
    "data_docs": "nbrec-data-docs",
    "monitoring": "nbrec-live-check",
    "report": "nbrec-performance-report",
}


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def leaderboard(
    tried: dict[str, float], metric: str, chosen: str, popularity: float | None = None
) -> None:
    """Every candidate's validation figure, best first; the chosen one marked; popularity (the
    gate's baseline) always listed."""
    scores = dict(tried)
    if popularity is not None:
        scores.setdefault("popularity", popularity)
    rows = [
        {
            "model": name,
            f"validation {metric}": round(float(score), 4),
            "chosen": name == chosen,
            "candidate": name in tried,
        }  # fmt: skip
        for name, score in sorted(scores.items(), key=lambda kv: -kv[1])
    ]
    create_table_artifact(
        key=KEYS["leaderboard"], table=rows,
        description=f"Candidates on the validation split ({metric}); the chosen one goes to the gate.",
    )  # fmt: skip


def gate(decision: dict, metric: str, margin: float, tolerance: float) -> None:
    verdict = "**PASS**" if decision["passed"] else "**REJECTED** (production unchanged)"
    create_markdown_artifact(
        key=KEYS["gate"],
        markdown=(
            f"# Gate: {verdict}\n\n{decision['reason']}\n\n"
            f"| | {metric} |\n|---|---|\n"
            f"| candidate | {_fmt(decision.get('candidate'))} |\n"
            f"| popularity (must be beaten by {margin}) | {_fmt(decision.get('popularity'))} |\n"
            f"| live model (may lead by at most {tolerance}) | {_fmt(decision.get('live'))} |\n"
        ),
        description="The gate's decision and its figures",
    )


def validation(suites: dict[str, dict], docs_index: Path | None = None) -> None:
    """The suites this run validated (``{suite: status()}``), and where their reports are."""
    rows = [
        {
            "suite": name,
            "success": entry.get("success"),
            "failed expectations": "; ".join(entry.get("failed_expectations") or []) or "none",
            "report": entry.get("report"),
        }
        for name, entry in suites.items()
    ]
    failed = [r["suite"] for r in rows if not r["success"]]
    create_table_artifact(
        key=KEYS["validation"], table=rows,
        description=f"Great Expectations: {len(rows) - len(failed)}/{len(rows)} suites passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
    )  # fmt: skip
    if docs_index is not None and docs_index.is_file():
        create_link_artifact(
            key=KEYS["data_docs"], link=docs_index.resolve().as_uri(), link_text="Data Docs",
            description="Great Expectations Data Docs of the validations (on the machine that ran it)",
        )  # fmt: skip


def published(result: dict, top_n: int) -> None:
    create_markdown_artifact(
        key=KEYS["published"],
        markdown=(
            f"# Live: `{result['version']}` ({result['model']})\n\n"
            f"{result['reason']}\n\n- previous live version: `{result.get('previous')}`\n"
            f"- top {top_n} recommendations per user in the feature store, read back and "
            f"validated before the live pointer flipped\n"
            f"- `nbrec models rollback` makes the previous version live again\n"
        ),
        description="The version this run published",
    )


def live_check(summary: str, success: bool | None, report: str | None) -> None:
    state = "no live version" if success is None else "passed" if success else "FAILED"
    create_markdown_artifact(
        key=KEYS["monitoring"],
        markdown=f"# Live recommendations: {state}\n\n{summary}\n\nReport: `{report}`\n",
        description="The live version's recommendations against the recommendations suite",
    )


def performance_report(html: str, figures: dict | None = None) -> None:
    create_link_artifact(
        key=KEYS["report"], link=Path(html).resolve().as_uri(), link_text="performance report",
        description="The rendered product report (also served at /dashboard/report)",
    )  # fmt: skip
    if figures:
        create_table_artifact(
            key=f"{KEYS['report']}-summary", table=figures,
            description="Per model version and variant, from the RR logs",
        )  # fmt: skip


def run_validation(run_name: str) -> None:
    """The validation artifact of ``run_name``: the suites it recorded in the status file."""
    from nbrec.pipeline import status
    from nbrec.settings import get_settings

    suites = {
        name: entry
        for name, entry in status.read_status()["validation"].items()
        if f"/{run_name}" in (entry.get("report") or "")
    }
    if suites:
        validation(suites, get_settings().var_dir / "validation" / "docs" / "index.html")
