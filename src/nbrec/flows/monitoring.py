"""Hourly monitoring flow: the live version's published recommendations still pass their suite."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff

from nbrec.constants import DEFAULT_K
from nbrec.pipeline import live_check, run_artifacts
from nbrec.validation import ValidationFailed


@task(
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
)
def check_live(sample: int, k: int):
    return live_check.check_live(sample, k)


@flow(name="nbrec-monitoring")
def monitoring(sample: int = 500, k: int = DEFAULT_K) -> dict:
    """Fail (so that the run shows red and alerts fire) when the live recommendations are broken."""
    report = check_live(sample, k)
    if report is None:
        get_run_logger().warning("no live model version: nothing to check")
        run_artifacts.live_check("No live model version: nothing to check.", None, None)
        return {"live": None}
    run_artifacts.live_check(report.summary(), report.success, str(report.report_path))
    if not report.success:
        raise ValidationFailed(report)
    get_run_logger().info(report.summary())
    return {"success": True, "report": str(report.report_path)}
