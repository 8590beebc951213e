"""Experiments in the request path: the router and the bandit variants the service plugs in.

``RecommendationService`` (nbrec.serving) routes every request through a ``Router`` and asks
its ``PolicyHook`` whether the route is answered by an online policy. ``experiment_hooks()``
gives both from ``experiments/*.yaml``: the ``ExperimentRouter`` (model-version variants need
nothing more) and ``BanditVariants``, which answers policy variants with ``OnlineBandit``s whose
counters live in the feature store, and an interleaving experiment's users with ``TeamDraft``. ``nbrec.wiring.build_service()`` plugs them in, so
``nbrec serve`` serves every kind of variant.
"""

from __future__ import annotations

import threading
from hashlib import blake2b

import numpy as np

from nbrec.experiments.assignment import ExperimentRouter
from nbrec.experiments.config import INTERLEAVED, LIVE, Experiment, Variant, load_experiments
from nbrec.experiments.interleaving import team_draft
from nbrec.experiments.online import CounterStore, OnlineBandit, namespace
from nbrec.serving.routing import Route, Slate
from nbrec.settings import Settings


class BanditVariant:
    """One policy variant (a ``VariantPolicy``): an ``OnlineBandit`` plus its random stream."""

    def __init__(self, bandit: OnlineBandit, variant: Variant, rng: np.random.Generator):
        self.bandit = bandit
        self.name = variant.policy or ""
        self.pool_size = variant.pool_size
        self._rng = rng
        self._lock = threading.Lock()  # numpy Generators are not thread-safe

    def recommend(self, pool: list[str], k: int) -> Slate:
        with self._lock:
            return self.bandit.recommend(pool, k, self._rng)

    def feedback(self, item_id: str, event: str) -> bool:
        return self.bandit.feedback(item_id, event)


class TeamDraft:
    """An ``Interleaver``: team-draft interleaving of an experiment's two versions.

    The coins come from a generator seeded by the experiment and the request id, so the logged
    answer can be drawn again from the same two lists (no shared state, thread-safe).
    """

    name = "team_draft"

    def __init__(self, experiment: Experiment):
        self.experiment = experiment.name
        self.versions = tuple(
            None if v.model_version in (None, LIVE) else v.model_version
            for v in experiment.variants
        )

    def rng(self, key: str) -> np.random.Generator:
        digest = blake2b(f"{self.experiment}:{key}".encode(), digest_size=8).digest()
        return np.random.default_rng(int.from_bytes(digest, "big"))

    def interleave(
        self, list_a: list[str], list_b: list[str], k: int, key: str
    ) -> tuple[list[str], list[str]]:
        if not list_a and not list_b:
            return [], []
        return team_draft(list_a, list_b, k, self.rng(key))


class BanditVariants:
    """The service's ``PolicyHook``: the bandit answering a route, None for model versions."""

    def __init__(self, router: ExperimentRouter, store: CounterStore, seed: int | None = None):
        self.router = router
        self.store = store
        self._seeds = np.random.SeedSequence(seed)
        self._variants: dict[tuple[str, str], BanditVariant | None] = {}
        self._blends: dict[str, TeamDraft] = {}
        self._lock = threading.Lock()

    def policy(self, route: Route) -> BanditVariant | None:
        key = (route.experiment, route.variant)
        try:
            return self._variants[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._variants:
                config = self.router.variant_config(route.experiment, route.variant)
                found = None
                if config is not None and config.is_policy:
                    bandit = OnlineBandit(
                        self.store, namespace(route.experiment, config.name), config.policy
                    )
                    rng = np.random.default_rng(self._seeds.spawn(1)[0])
                    found = BanditVariant(bandit, config, rng)
                self._variants[key] = found
            return self._variants[key]

    def interleaver(self, route: Route) -> TeamDraft | None:
        """The team draft answering an interleaving experiment's users, else None."""
        if route.variant != INTERLEAVED or route.experiment is None:
            return None
        found = self._blends.get(route.experiment)
        if found is None:  # built once per experiment; a race builds an identical one
            found = TeamDraft(self.router.experiments[route.experiment])
            self._blends[route.experiment] = found
        return found


def experiment_hooks(
    settings: Settings, store: CounterStore
) -> tuple[ExperimentRouter, BanditVariants] | None:
    """Router and policy hook for the experiments in ``NBREC_EXPERIMENTS_DIR``; None if none."""
    experiments = load_experiments(settings.experiments_dir)
    if not experiments:
        return None
    # No live_version callable: variants on "live" come back as None and the service resolves it.
    router = ExperimentRouter(experiments)
    return router, BanditVariants(router, store, seed=settings.seed)
