"""The composition root: the one place that wires a running service together.

``nbrec serve`` and the bento (``bentos/recommender``) call ``start(http)``; it builds the
``RecommendationService`` from ``NBREC_*`` settings and plugs in what the request path only
knows through small interfaces: the feature store (behind the circuit breaker), the RR log
writer, Prometheus metrics, the ops collectors and score-shift monitor (``nbrec.monitoring``),
the experiments' router and bandit variants (``nbrec.experiments``) and the rendered product
dashboard. Nothing below this module imports it (see the layers in pyproject.toml).
"""

from __future__ import annotations

from nbrec.events import open_journal
from nbrec.events.status import LoopStatusCollector
from nbrec.experiments.hooks import experiment_hooks
from nbrec.monitoring import dashboard_html_path, register_collectors, store_reference_loader
from nbrec.monitoring.live_dashboard import DashboardPage
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.guard import GuardedStore
from nbrec.serving.http import ServingApp
from nbrec.serving.prometheus import ServingMetrics
from nbrec.serving.routing import Router
from nbrec.serving.service import RecommendationService
from nbrec.settings import Settings, get_settings
from nbrec.store import open_store


def build_service(
    settings: Settings | None = None, router: Router | None = None
) -> RecommendationService:
    """A ``RecommendationService`` configured from ``NBREC_*`` settings (opens nothing yet).

    With experiments in ``NBREC_EXPERIMENTS_DIR`` (*.yaml) it routes users to their variants and
    answers bandit variants from the store's counters; ``router`` overrides the routing only.
    """
    settings = settings or get_settings()
    # Request-path store calls get a time budget, and a failing store is skipped for a while
    # (answers come from the in-process copy) instead of costing every request its timeout.
    store = GuardedStore(
        open_store(settings.store_url, request_timeout=settings.store_timeout_ms / 1000),
        retry_after=settings.store_retry_after,
    )
    hooks = experiment_hooks(settings, store)
    policies = None
    if hooks is not None:
        experiment_router, policies = hooks
        router = router or experiment_router
    # Several workers share their counters and histograms (one total on every /metrics).
    metrics = ServingMetrics(across_workers=settings.workers > 1)
    # Score shift is measured against the scores each version was published with (its info).
    monitoring = register_collectors(
        metrics.registry, reference_loader=store_reference_loader(store)
    )
    rr_log = RRLogger(
        None if settings.log_stdout else settings.logs_path, on_drop=metrics.log_dropped.inc
    )
    # /feedback answers 200 only once its event is durable (nbrec.events); "none": RR log only.
    journal = None
    if settings.events_url.lower() != "none":
        journal = open_journal(settings.events_url or None)
    # Ingestion and RR-archive health, read from var/status/ingest.json and the log folder.
    metrics.registry.register(
        LoopStatusCollector(None if settings.log_stdout else settings.logs_path)
    )
    return RecommendationService(
        store,
        journal=journal,
        journal_timeout=settings.events_timeout_ms / 1000,
        journal_retry_after=settings.events_retry_after,
        router=router,
        rr_log=rr_log,
        metrics=metrics,
        refresh_interval=settings.refresh_interval,
        cache_size=settings.top_n_cache_size,
        on_scores=monitoring.observe_scores,
        policies=policies,
    )


def start(http: ServingApp, settings: Settings | None = None) -> RecommendationService:
    """Build the service, attach it and the dashboards (live page, rendered report) to
    ``http``, load the live version."""
    settings = settings or get_settings()
    service = build_service(settings)
    http.dashboard_path = dashboard_html_path
    http.dashboard_page = DashboardPage(settings.logs_path, settings.warehouse or None)
    http.service = service
    service.refresh()
    return service
