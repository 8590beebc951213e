"""Operations: health metrics for Prometheus and the product performance dashboard.

The service wires this in with one call at start-up::

    monitoring = register_collectors(registry)          # pipeline/data health + score shift
    monitoring.observe_scores(model_version, scores)    # on each answer (cheap)

and serves ``dashboard_html_path()`` at ``GET /dashboard``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

from nbrec.monitoring.dashboard import dashboard_html_path
from nbrec.monitoring.model_health import ScoreShiftMonitor, ks, psi, save_score_reference
from nbrec.monitoring.pipeline_health import PipelineStatusCollector

__all__ = [
    "Monitoring",
    "PipelineStatusCollector",
    "ScoreShiftMonitor",
    "dashboard_html_path",
    "ks",
    "psi",
    "register_collectors",
    "save_score_reference",
]


@dataclass
class Monitoring:
    """What :func:`register_collectors` registered; keep it to feed scores from the request path."""

    pipeline: PipelineStatusCollector
    score_shift: ScoreShiftMonitor

    def observe_scores(self, model_version: str | None, scores) -> None:
        self.score_shift.observe(model_version, scores)


def register_collectors(
    registry: CollectorRegistry = REGISTRY,
    status_path: str | Path | None = None,
    score_window: int = 5_000,
) -> Monitoring:
    """Register the pipeline/data-health and score-shift collectors on ``registry``."""
    monitoring = Monitoring(PipelineStatusCollector(status_path), ScoreShiftMonitor(score_window))
    registry.register(monitoring.pipeline)
    registry.register(monitoring.score_shift)
    return monitoring
