"""Build the product performance dashboard (notebook -> HTML without code) and find it.

``build_dashboard`` executes ``notebooks/performance_report.ipynb`` with papermill and renders
it with nbconvert (``exclude_input=True``); the scheduled flow ``nbrec.flows.report`` calls it.
The service serves ``dashboard_html_path()`` at ``GET /dashboard``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nbrec.settings import get_settings

NOTEBOOK = "performance_report"
HTML_NAME = "performance_report.html"


def reports_dir() -> Path:
    return get_settings().var_dir / "reports"


def dashboard_html_path(directory: Path | None = None) -> Path | None:
    """The latest rendered dashboard, or None if it was never built (serve a 404 with a hint)."""
    path = (directory or reports_dir()) / HTML_NAME
    return path if path.is_file() else None


def build_dashboard(
    log_dir: str | Path | None = None,
    leaderboard_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    catalog_size: int = 0,
    churn_days: int = 7,
) -> Path:
    """Execute the dashboard notebook on the RR logs and publish its HTML; return the HTML path.

    The notebook runs in ``<out_dir>/run/``; only a finished rendering replaces the published
    file (atomic rename), so ``GET /dashboard`` never serves half a page.
    """
    from nbrec.notebooks import render_html, run_notebook
    from nbrec.rrlog.reader import log_files

    settings = get_settings()
    log_dir = Path(log_dir or settings.logs_path)
    log_files(log_dir)  # fail before starting a kernel, with the same actionable message
    out = Path(out_dir) if out_dir is not None else reports_dir()
    run_dir = out / "run"
    parameters = {
        "LOG_DIR": str(log_dir.resolve()),
        "LEADERBOARD_PATH": str(Path(leaderboard_path).resolve()) if leaderboard_path else "",
        "CATALOG_SIZE": int(catalog_size),
        "CHURN_DAYS": int(churn_days),
        "RESULTS_PATH": str((run_dir / "results.json").resolve()),
    }
    executed = run_notebook(NOTEBOOK, parameters, out_dir=run_dir, html=False)
    rendered = render_html(executed, exclude_input=True)
    target = out / HTML_NAME
    staging = target.with_suffix(".html.tmp")
    shutil.copyfile(rendered, staging)
    staging.replace(target)
    return target


def report_summary(html: str | Path) -> list[dict]:
    """The per-group figures the report at ``html`` recorded (its run's results JSON), rounded;
    empty if there are none."""
    import json

    results = Path(html).parent / "run" / "results.json"
    if not results.is_file():
        return []
    rows = json.loads(results.read_text()).get("summary") or []
    return [
        {key: round(value, 4) if isinstance(value, float) else value for key, value in row.items()}
        for row in rows
    ]
