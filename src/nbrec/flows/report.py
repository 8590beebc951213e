"""Performance report flow: rebuild the product dashboard (notebook -> HTML) from the RR logs.

Thin on purpose: one task, one package call (``nbrec.monitoring.dashboard.build_dashboard``).
Run once with ``python flows/report.py --once``; serve it on its schedule (hourly by default)
with ``python flows/report.py`` (``--cron`` to change it). The service shows the result at
``GET /dashboard``.
"""

from __future__ import annotations

import argparse

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from nbrec.monitoring.dashboard import build_dashboard, report_summary
from nbrec.pipeline import run_artifacts

HOURLY = "0 * * * *"


@task(cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=30)
def render_dashboard(
    log_dir: str | None, leaderboard_path: str | None, out_dir: str | None, catalog_size: int
) -> str:
    # Retries: a log file rotated mid-read is transient; the next attempt sees a stable set.
    return str(build_dashboard(log_dir, leaderboard_path, out_dir, catalog_size=catalog_size))


@flow(name="performance-report", log_prints=True)
def performance_report(
    log_dir: str | None = None,
    leaderboard_path: str | None = None,
    out_dir: str | None = None,
    catalog_size: int = 0,
) -> str:
    """Rebuild the dashboard HTML; return its path."""
    html = render_dashboard(log_dir, leaderboard_path, out_dir, catalog_size)
    print(f"performance report: {html}")
    run_artifacts.performance_report(html, report_summary(html))
    return html


def main(argv: list[str] | None = None) -> None:
    """``python flows/report.py [--once] [--cron ...]``: run now, or serve on the schedule."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--once", action="store_true", help="run now instead of serving the schedule"
    )
    parser.add_argument("--cron", default=HOURLY, help="schedule when serving (default hourly)")
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--leaderboard", default=None)
    args = parser.parse_args(argv)
    params = {"log_dir": args.log_dir, "leaderboard_path": args.leaderboard}
    if args.once:
        performance_report(**params)
    else:
        performance_report.serve(name="performance-report", cron=args.cron, parameters=params)
