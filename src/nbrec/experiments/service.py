"""Experiments in the request path: the router plugged into the service, bandit variants served.

``RecommendationService`` (nbrec.serving) routes every request through a ``Router``; the
``ExperimentRouter`` gives model-version variants for free. A variant that is a *policy* (a
bandit) needs its slate from the bandit rather than from the precomputed top-N, and its feedback
counted: ``ExperimentService`` wraps the service to do exactly that and delegates everything
else. ``build_experiment_service()`` is the drop-in for ``nbrec.serving.factory.build_service()``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from nbrec.experiments.assignment import ExperimentRouter
from nbrec.experiments.config import Variant, load_experiments
from nbrec.experiments.online import OnlineBandit, namespace
from nbrec.settings import Settings, get_settings


def experiment_router(settings: Settings | None = None, live_version=None) -> ExperimentRouter:
    """The router for the experiments in ``NBREC_EXPERIMENTS_DIR`` (none -> everyone on live)."""
    settings = settings or get_settings()
    return ExperimentRouter(
        load_experiments(settings.experiments_dir), live_version or (lambda: None)
    )


class ExperimentService:
    """A ``RecommendationService`` whose bandit variants are answered by ``OnlineBandit``s."""

    def __init__(self, core: Any, router: ExperimentRouter, seed: int | None = None):
        self.core = core
        self.router = router
        self._bandits: dict[str, OnlineBandit] = {}
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # numpy Generators are not thread-safe

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)  # similar_items, ready, metrics, live_version, ...

    def _bandit_variant(self, user_id: str) -> tuple[Any, Variant | None]:
        route = self.router.route(user_id)
        variant = self.router.variant_config(route.experiment, route.variant)
        return route, variant if variant is not None and variant.is_policy else None

    def bandit(self, experiment: str, variant: Variant) -> OnlineBandit:
        key = namespace(experiment, variant.name)
        if key not in self._bandits:
            self._bandits[key] = OnlineBandit(self.core.store, key, variant.policy)
        return self._bandits[key]

    def recommend(self, req: Any, request_id: str | None = None) -> dict[str, Any]:
        route, variant = self._bandit_variant(req.user_id)
        if variant is None:
            return self.core.recommend(req, request_id)
        from nbrec.serving.service import new_request_id
        from nbrec.store import StoreError

        start = time.perf_counter()
        request_id = request_id or new_request_id()
        snap = self.core._live_snapshot()
        fallback = None
        try:
            blocked = set(self.core.store.recent_seen(req.user_id)) | set(req.exclude)
            pool = [i for i in snap.popular[0] if i not in blocked][: variant.pool_size]
            with self._lock:
                slate = self.bandit(route.experiment, variant).recommend(pool, req.k, self._rng)
            items, scores, props = slate.items, slate.scores, slate.propensities
        except StoreError:  # counters unreachable: popular items, said so, nothing learned
            items, scores, props = (
                list(snap.popular[0][: req.k]),
                list(snap.popular[1][: req.k]),
                None,
            )
            fallback = "store_unavailable"
        version = snap.version
        self.core._observe(route, version, fallback, scores)
        if self.core.rr_log is not None:
            base = {"request_id": request_id, "user_id": req.user_id, "model_version": version,
                    "experiment": route.experiment, "variant": route.variant}  # fmt: skip
            self.core.rr_log.log({
                "kind": "request", **base, "k": req.k, "items": items, "scores": scores,
                "propensities": props, "fallback": fallback, "policy": variant.policy,
                "latency_ms": round((time.perf_counter() - start) * 1000, 3), "status": 200,
                "endpoint": "/recommend",
            })  # fmt: skip
            self.core.rr_log.log(
                {"kind": "exposure", **base, "items": items, "propensities": props}
            )
        return {
            "request_id": request_id, "model_version": version, "fallback": fallback,
            "items": [{"item_id": i, "score": s} for i, s in zip(items, scores, strict=True)],
            "experiment": route.experiment, "variant": route.variant,
        }  # fmt: skip

    def feedback(self, req: Any) -> dict[str, Any]:
        """Log as usual; a click on a bandit variant's item is also a reward in the store."""
        from nbrec.store import StoreError

        out = self.core.feedback(req)
        route, variant = self._bandit_variant(req.user_id)
        if variant is not None:
            try:
                out["rewarded"] = self.bandit(route.experiment, variant).feedback(
                    req.item_id, req.event
                )
            except StoreError:
                out["rewarded"] = False
        return out


def build_experiment_service(settings: Settings | None = None) -> ExperimentService:
    """``build_service()`` with the experiment router and bandit variants (the one-line hook)."""
    from nbrec.serving.factory import build_service

    settings = settings or get_settings()
    router = experiment_router(
        settings
    )  # "live" variants route to None: the service's live version
    return ExperimentService(build_service(settings, router=router), router, seed=settings.seed)


def create_app():
    """ASGI app of the service with experiments (``uvicorn --factory``), for tests and demos."""
    from nbrec.serving.http import ServingApp

    service = build_experiment_service()
    service.refresh()
    return ServingApp(service).app
