"""Build the service the way it runs in production: store, RR log, metrics, ops collectors."""

from __future__ import annotations

from nbrec.serving.logs import RRLogger
from nbrec.serving.metrics import ServingMetrics
from nbrec.serving.service import RecommendationService, Router
from nbrec.settings import Settings, get_settings
from nbrec.store import open_store


def experiment_router(settings: Settings) -> Router | None:
    """The experiments in ``NBREC_EXPERIMENTS_DIR`` (*.yaml) as a router; None if there are none."""
    from nbrec.experiments.assignment import ExperimentRouter
    from nbrec.experiments.config import load_experiments

    experiments = load_experiments(settings.experiments_dir)
    # No live_version callable: variants on "live" come back as None and the service resolves it.
    return ExperimentRouter(experiments) if experiments else None


def build_service(
    settings: Settings | None = None, router: Router | None = None
) -> RecommendationService:
    """A ``RecommendationService`` configured from ``NBREC_*`` settings (opens nothing yet)."""
    from nbrec.monitoring import register_collectors  # pipeline/data health, score shift (ops)

    settings = settings or get_settings()
    if router is None:
        router = experiment_router(settings)
    metrics = ServingMetrics()
    monitoring = register_collectors(metrics.registry)
    rr_log = RRLogger(
        None if settings.log_stdout else settings.logs_path, on_drop=metrics.log_dropped.inc
    )
    return RecommendationService(
        open_store(settings.store_url),
        router=router,
        rr_log=rr_log,
        metrics=metrics,
        refresh_interval=settings.refresh_interval,
        on_scores=monitoring.observe_scores,
    )
