"""Operations: health metrics for Prometheus and the product performance dashboard.

The service wires this in with one call at start-up::

    monitoring = register_collectors(registry, reference_loader=store_reference_loader(store))
    monitoring.observe_scores(model_version, scores)    # on each answer (cheap)

and serves ``dashboard_html_path()`` at ``GET /dashboard``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry

from nbrec.monitoring.dashboard import dashboard_html_path
from nbrec.monitoring.model_health import (
    ScoreShiftMonitor,
    ks,
    psi,
    save_score_reference,
    store_reference_loader,
)
from nbrec.monitoring.pipeline_health import PipelineStatusCollector
from nbrec.pipeline.publish import score_reference_from_recs

__all__ = [
    "Monitoring",
    "PipelineStatusCollector",
    "ScoreShiftMonitor",
    "dashboard_html_path",
    "ks",
    "psi",
    "register_collectors",
    "save_score_reference",
    "score_reference_from_recs",
    "store_reference_loader",
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
    reference_loader: Callable[[str], np.ndarray | None] | None = None,
) -> Monitoring:
    """Register the pipeline/data-health and score-shift collectors on ``registry``.

    ``reference_loader`` finds a version's training scores (``store_reference_loader(store)``);
    the default reads the files of ``save_score_reference``.
    """
    shift = ScoreShiftMonitor(score_window, reference_loader=reference_loader)
    monitoring = Monitoring(PipelineStatusCollector(status_path), shift)
    registry.register(monitoring.pipeline)
    registry.register(monitoring.score_shift)
    return monitoring
