"""The request path: route, look up, filter, fall back; then log and measure.

``RecommendationService`` is a plain class (no HTTP): the BentoML service, the tests and the
benchmarks call it directly. Per request it makes one store call: the precomputed top-N plus
the user's recently seen items in one round trip, or the seen items alone when the top-N is in
the local cache (``nbrec.serving.cache``); seen items are never cached, so feedback taken by
any worker of any replica counts at once. Cold-start users cost a dot product. Which version
answers is ``nbrec.serving.live``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nbrec.events.journal import EventJournal
from nbrec.rrlog.schema import error_line, exposure_line, request_line
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.cache import LocalCache
from nbrec.serving.feedback import (  # noqa: F401 (FeedbackTicket: part of this API)
    FeedbackHandling,
    FeedbackTicket,
    new_request_id,
)
from nbrec.serving.live import (  # noqa: F401 (NO_MODEL, NotReady: part of this API)
    NO_MODEL,
    REFRESH_INTERVAL,
    LiveVersions,
    NotReady,
)
from nbrec.serving.loaded_version import LoadedVersion, pick
from nbrec.serving.prometheus import ServingMetrics
from nbrec.serving.routing import (
    Interleaver,
    LiveRouter,
    PolicyHook,
    Route,
    Router,
    VariantPolicy,
)
from nbrec.serving.schemas import RecommendRequest, SimilarItemsRequest, as_list
from nbrec.store import FeatureStore, Ranked, StoreError

CACHE_SIZE = 50_000  # (version, user) -> precomputed top-N; versions are immutable, so no staleness


class NotFound(LookupError):
    """The request names something the live model does not know: HTTP 404."""


class RecommendationService(FeedbackHandling, LiveVersions):
    """Recommendations from a feature store, with fallbacks, RR logs and metrics.

    Which version answers (the live pointer, loaded versions, pinned variants, readiness) is
    ``LiveVersions``'s (``nbrec.serving.live``); this class handles the requests.
    """

    def __init__(
        self,
        store: FeatureStore,
        router: Router | None = None,
        rr_log: RRLogger | None = None,
        metrics: ServingMetrics | None = None,
        refresh_interval: float = REFRESH_INTERVAL,
        cache_size: int = CACHE_SIZE,
        on_scores: Callable[[str, list], None] | None = None,
        policies: PolicyHook | None = None,
        journal: EventJournal | None = None,
        journal_timeout: float = 1.0,
        journal_retry_after: float = 1.0,
    ):
        super().__init__(
            store, router or LiveRouter(), metrics or ServingMetrics(process=False),
            refresh_interval,
        )  # fmt: skip
        # Where /feedback events are made durable before the 200 (nbrec.events); None: not at all.
        self.journal, self.journal_timeout = journal, journal_timeout
        self.journal_retry_after = journal_retry_after  # the Retry-After of a 503
        self.policies = policies  # bandit variants of experiments (nbrec.experiments.hooks)
        self.rr_log = rr_log
        self.on_scores = on_scores  # e.g. the ops score-shift monitor
        self._local = LocalCache(cache_size)  # top-N lists; seen items for outages only

    # -- recommend --------------------------------------------------------------------------
    def _user_recs(
        self, version: str, user_id: str, head: int | None = None
    ) -> tuple[Ranked | None, list[str]]:
        """(top-N or None, recently seen): one store round trip (seen items alone if cached).
        ``head``: the list may be cut after the first ``head`` items not seen (not cached)."""
        local = self._local
        cached = local.recs(version, user_id)
        if cached is not None:
            return cached, self._recent_seen(user_id)
        if local.size > 0:
            head = None  # the cache keeps whole lists
        recs, seen = self._store_call("user_view", self.store.user_view, version, user_id, head)
        if recs is not None:
            local.put_recs(version, user_id, recs)
        local.put_seen(user_id, seen)
        return recs, seen

    def _recent_seen(self, user_id: str) -> list[str]:
        seen = self._store_call("recent_seen", self.store.recent_seen, user_id)
        self._local.put_seen(user_id, seen)
        return seen

    def recommend(self, req: RecommendRequest, request_id: str | None = None) -> dict[str, Any]:
        start = time.perf_counter()
        request_id = request_id or new_request_id()
        user = req.user_id
        route, snap = self._route(user)
        version = snap.version
        filters = {key: set(as_list(v)) for key, v in req.filters.items()} if req.filters else {}
        unknown = snap.unknown_filter_values(filters) if filters else None
        policy = self.policy_for(route)
        blend = self.interleaver_for(route)
        extra: dict[str, Any] = {"policy": policy.name} if policy is not None else {}
        propensities = None
        if blend is not None:
            items, scores, fallback, extra = self._interleaved(
                blend, req, snap, filters, request_id
            )
        elif policy is None:
            items, scores, fallback = self._model_answer(req, snap, filters)
        else:
            items, scores, propensities, fallback = self._policy_answer(policy, req, snap, filters)
        payload = {
            "request_id": request_id,
            "model_version": version,
            "items": [{"item_id": i, "score": s} for i, s in zip(items, scores, strict=True)],
            "fallback": fallback,
            "experiment": route.experiment,
            "variant": route.variant,
        }
        if unknown:  # a typo in a value is no error (the catalogue changes), but it is said
            payload["unknown_filter_values"] = unknown
        self._observe(route, version, fallback, scores)
        if self.rr_log is not None:
            ids = (request_id, user, version, route.experiment, route.variant)
            self.rr_log.log(request_line(
                *ids, k=req.k, items=items, scores=scores, propensities=propensities,
                fallback=fallback, latency_ms=round((time.perf_counter() - start) * 1000, 3),
                **extra,
            ))  # fmt: skip
            if route.experiment is not None:
                self.rr_log.log(exposure_line(*ids, items, propensities))
        return payload

    def _model_answer(
        self, req: RecommendRequest, snap: LoadedVersion, filters: dict[str, set[str]]
    ) -> tuple[list[str], list[float | None], str | None]:
        """The version's precomputed top-N (or a fallback list), filtered; (items, scores, fallback)."""
        user, version = req.user_id, snap.version
        fallback = None
        # Unfiltered, ``pick`` keeps the first k items neither seen nor excluded: the stored
        # list's first k + len(exclude) + len(seen) items hold them all, the rest need no decoding.
        head = None if filters else req.k + len(req.exclude)
        try:
            recs, seen = self._user_recs(version, user, head)
        except StoreError:
            recs, seen = self._local.recs(version, user), self._local.last_seen(user)
            fallback = "store_unavailable"
        if recs is None:
            if fallback is None:
                fallback = "unknown_user"
                if req.user_features:
                    recs = snap.cold_start(snap.feature_names(req.user_features))
                    fallback = "cold_start" if recs is not None else fallback
            recs = recs or snap.popular
        blocked = set(seen)
        blocked.update(req.exclude)
        items, scores = pick(recs, req.k, blocked, filters, snap)
        if len(items) < req.k and recs is not snap.popular:
            blocked.update(items)  # top up from the popularity list
            more_items, more_scores = pick(snap.popular, req.k - len(items), blocked, filters, snap)
            items += more_items
            scores += more_scores
        return items, scores, fallback

    def _interleaved(
        self,
        blend: Interleaver,
        req: RecommendRequest,
        snap: LoadedVersion,
        filters: dict[str, set[str]],
        request_id: str,
    ) -> tuple[list[str], list[float | None], str | None, dict[str, Any]]:
        """Both versions' answers (``snap`` is version a's), blended; extra RR fields: the
        teams, the interleaver and both versions."""
        snap_b = self._pinned(blend.versions[1], self._live_snapshot())
        items_a, scores_a, fallback = self._model_answer(req, snap, filters)
        items_b, scores_b, fallback_b = self._model_answer(req, snap_b, filters)
        items, teams = blend.interleave(items_a, items_b, req.k, request_id)
        score = {
            "a": dict(zip(items_a, scores_a, strict=True)),
            "b": dict(zip(items_b, scores_b, strict=True)),
        }
        scores = [score[t][i] for i, t in zip(items, teams, strict=True)]
        versions = [snap.version, snap_b.version]
        extra = {"policy": blend.name, "teams": teams, "versions": versions}
        return items, scores, fallback or fallback_b, extra

    def interleaver_for(self, route: Route) -> Interleaver | None:
        """The blend answering ``route`` (an interleaving experiment), None otherwise."""
        if self.policies is None or route.variant is None:
            return None
        return self.policies.interleaver(route)

    def policy_for(self, route: Route) -> VariantPolicy | None:
        """The online policy answering ``route`` (a bandit variant), None for a model version."""
        if self.policies is None or route.variant is None:
            return None
        return self.policies.policy(route)

    def _policy_answer(
        self,
        policy: VariantPolicy,
        req: RecommendRequest,
        snap: LoadedVersion,
        filters: dict[str, set[str]],
    ) -> tuple[list[str], list[float | None], list[float] | None, str | None]:
        """A policy's slate over the version's most popular items the user may see.

        (items, scores, propensities, fallback); when the store (seen items, counters) fails:
        the popularity list, no propensities, nothing learned.
        """
        try:
            blocked = set(self._recent_seen(req.user_id))
            blocked.update(req.exclude)
            pool, _ = pick(snap.popular, policy.pool_size, blocked, filters, snap)
            slate = policy.recommend(pool, req.k)
        except StoreError:
            items, scores = pick(snap.popular, req.k, set(req.exclude), filters, snap)
            return items, scores, None, "store_unavailable"
        return slate.items, list(slate.scores), slate.propensities, None

    def _observe(self, route: Route, version: str, fallback: str | None, scores: list) -> None:
        m = self.metrics
        m.child(m.recommendations, version, route.variant or "none", fallback or "none").inc()
        if not scores:
            m.child(m.empty, version).inc()
        nulls = scores.count(None)
        if nulls:
            m.child(m.null_scores, version).inc(nulls)
        if self.on_scores is not None:
            self.on_scores(version, scores)

    # -- similar items, feedback ------------------------------------------------------------
    def similar_items(self, req: SimilarItemsRequest, request_id: str | None = None) -> dict:
        start = time.perf_counter()
        request_id = request_id or new_request_id()
        snap = self._live_snapshot()
        fallback = None
        try:
            found = self._store_call("similar", self.store.similar, snap.version, req.item_id)
        except StoreError:
            found, fallback = snap.popular, "store_unavailable"
        if found is None:
            raise NotFound(
                f"unknown item_id {req.item_id!r}: model version {snap.version} has no such item"
            )
        items, scores = pick(found, req.k, {req.item_id}, {}, None)
        if self.rr_log is not None:
            self.rr_log.log(request_line(
                request_id, None, snap.version, None, None, k=req.k, items=items, scores=scores,
                propensities=None, fallback=fallback,
                latency_ms=round((time.perf_counter() - start) * 1000, 3),
                endpoint="/similar_items", item_id=req.item_id,
            ))  # fmt: skip
        return {
            "request_id": request_id,
            "model_version": snap.version,
            "items": [{"item_id": i, "score": s} for i, s in zip(items, scores, strict=True)],
            "fallback": fallback,
        }

    def log_error(
        self, endpoint: str, status: int, request_id: str, user_id: Any, error: str
    ) -> None:
        """RR log line for a refused request (4xx/5xx), so the logs account for every request."""
        if self.rr_log is not None:
            user = user_id if isinstance(user_id, str) else None
            self.rr_log.log(
                error_line(request_id, user, self.live_version, endpoint, status, error)
            )

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()  # commits what is queued
        if self.rr_log is not None:
            self.rr_log.close()
        self.store.close()
