"""The request path: route, look up, filter, fall back; then log and measure.

``RecommendationService`` is a plain class (no HTTP): the BentoML service, the tests and the
benchmarks call it directly. Per request it makes one store call: the precomputed top-N plus
the user's recently seen items in one round trip, or the seen items alone when the top-N is in
the local cache (``nbrec.serving.cache``); seen items are never cached, so feedback taken by
any worker of any replica counts at once. Cold-start users cost a dot product.
The live pointer is re-read at most every ``refresh_interval`` seconds; a new version's
snapshot is loaded before it is switched to, so a publish never fails a request.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from nbrec.events.journal import EventJournal, wait_durable
from nbrec.events.schema import make_event
from nbrec.rrlog.schema import error_line, exposure_line, feedback_line, request_line
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.cache import LocalCache
from nbrec.serving.loaded_version import LoadedVersion, UnknownVersion
from nbrec.serving.prometheus import ServingMetrics
from nbrec.serving.routing import LiveRouter, PolicyHook, Route, Router, VariantPolicy
from nbrec.serving.schemas import FeedbackRequest, RecommendRequest, SimilarItemsRequest, as_list
from nbrec.store import FeatureStore, Ranked, StoreError

REFRESH_INTERVAL = 0.25
CACHE_SIZE = 50_000  # (version, user) -> precomputed top-N; versions are immutable, so no staleness
MAX_SNAPSHOTS = 4  # live + versions pinned by experiment variants
NO_MODEL = "no model is live yet: publish one (`nbrec publish --dataset synthetic`) and retry"
# What a version whose stored tables are corrupt raises while loading (bad JSON, missing keys,
# arrays of the wrong shape). Unlike a store outage it does not heal, so it is not retried.
CORRUPT_DATA = (ValueError, KeyError, TypeError)
# A version that fails to load with one of these leaves the last good one in service.
KEEP_LAST_GOOD = (StoreError, UnknownVersion, *CORRUPT_DATA)
log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """No model can be served yet (nothing published, store never reached): HTTP 503."""


class NotFound(LookupError):
    """The request names something the live model does not know: HTTP 404."""


@dataclass
class FeedbackTicket:
    """A /feedback event handed to the journal, waiting to be durable."""

    req: FeedbackRequest
    request_id: str
    route: Route
    version: str | None
    event: dict[str, Any]
    future: Future | None


def new_request_id() -> str:
    # 128 random bits as hex, like uuid4().hex without a getrandom() syscall per request;
    # request ids need uniqueness, not unpredictability.
    return f"{random.getrandbits(128):032x}"


class RecommendationService:
    """Recommendations from a feature store, with fallbacks, RR logs and metrics."""

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
        self.store = store
        # Where /feedback events are made durable before the 200 (nbrec.events); None: not at all.
        self.journal, self.journal_timeout = journal, journal_timeout
        self.journal_retry_after = journal_retry_after  # the Retry-After of a 503
        self.router = router or LiveRouter()
        self.policies = policies  # bandit variants of experiments (nbrec.experiments.hooks)
        self.metrics = metrics or ServingMetrics(process=False)
        self.rr_log = rr_log
        self.refresh_interval = refresh_interval
        self.on_scores = on_scores  # e.g. the ops score-shift monitor
        self.live_version: str | None = None
        self._snapshots: dict[str, LoadedVersion] = {}
        self._unloadable: set[str] = set()  # pinned versions that failed to load, until refresh
        self._corrupt: set[str] = set()  # versions whose tables cannot be read: never retried
        self._local = LocalCache(cache_size)  # top-N lists; seen items for outages only
        self._checked = -math.inf
        self._lock = threading.Lock()
        m, backend = self.metrics, store.backend
        self._store_timers = {
            op: (m.child(m.store_duration, backend, op), m.child(m.store_errors, backend, op))
            for op in (
                "user_view",
                "recent_seen",
                "similar",
                "add_seen",
                "live_version",
                "snapshot",
            )
        }

    # -- the live version -------------------------------------------------------------------
    def _store_call(self, op: str, func, *args):
        timer, errors = self._store_timers[op]
        start = time.perf_counter()
        try:
            return func(*args)
        except StoreError:
            errors.inc()
            raise
        finally:
            timer.observe(time.perf_counter() - start)

    def refresh(self) -> str | None:
        """Re-read the live pointer; load and switch to a new version. Keeps the old on errors."""
        with self._lock:
            self._checked = time.monotonic()
            self._unloadable.clear()  # versions that failed to load get another try
            try:
                live = self._store_call("live_version", self.store.live_version)
                if live is not None and live != self.live_version and live not in self._corrupt:
                    snapshot = self._load_or_mark_corrupt(live)
                    self.live_version = live
                    self.metrics.set_live(live, snapshot.published_at)
            except KEEP_LAST_GOOD:
                pass  # keep serving the last known good version
            return self.live_version

    def _load_or_mark_corrupt(self, version: str) -> LoadedVersion:
        try:
            return self._snapshot(version)
        except CORRUPT_DATA as exc:
            self._corrupt.add(version)
            log.error(
                "model version %s cannot be loaded from the feature store (%s: %s); still "
                "serving %s. Publish it again under a new version.",
                version, type(exc).__name__, exc, self.live_version,
            )  # fmt: skip
            raise

    def _snapshot(self, version: str) -> LoadedVersion:
        found = self._snapshots.get(version)
        if found is None:
            found = self._store_call("snapshot", LoadedVersion.load, self.store, version)
            if len(self._snapshots) >= MAX_SNAPSHOTS:
                keep = {self.live_version}
                for old in [v for v in self._snapshots if v not in keep][:1]:
                    del self._snapshots[old]
            self._snapshots[version] = found
        return found

    def _live_snapshot(self) -> LoadedVersion:
        if time.monotonic() - self._checked >= self.refresh_interval:
            self.refresh()
        if self.live_version is None:
            raise NotReady(NO_MODEL)
        return self._snapshot(self.live_version)

    def _route(self, user_id: str) -> tuple[Route, LoadedVersion]:
        live = self._live_snapshot()
        route = self.router.route(user_id)
        pinned = route.model_version
        if (
            pinned is None
            or pinned == live.version
            or pinned in self._unloadable
            or pinned in self._corrupt
        ):
            return route, live
        try:
            return route, self._load_or_mark_corrupt(pinned)
        except KEEP_LAST_GOOD:
            # A pinned variant's version vanished (e.g. cleaned up): serve live, and ask the
            # store again after the next refresh rather than on every request of the variant.
            self._unloadable.add(pinned)
            return route, live

    def check_store(self) -> bool:
        """Ping the store; the answer is also the ``nbrec_store_up`` gauge."""
        up = self.store.ping()
        self.metrics.store_up.set(1 if up else 0)
        return up

    def health(self) -> dict[str, Any]:
        """Readiness for a load balancer: ready while a live version answers.

        With the store unreachable but a live version loaded, the service still answers (each
        user's cached list, else the popularity list of the in-process copy): it stays ready and
        says ``degraded``. Answering 503 then would take every replica out of the balancer at
        once and turn a store outage into a full outage.
        """
        store_up = self.check_store()
        if store_up:
            self.refresh()
        live = self.live_version
        if live is None:
            reason = NO_MODEL if store_up else f"feature store {self.store!r} is unreachable"
        elif store_up:
            reason = f"serving {live}"
        else:
            reason = (
                f"degraded: feature store {self.store!r} is unreachable; answering from the "
                f"in-process copy of {live} (cached lists, popularity)"
            )
        return {"ready": live is not None, "degraded": not store_up, "reason": reason,
                "model_version": live}  # fmt: skip

    def ready(self) -> tuple[bool, str]:
        """(ready, reason), see ``health``."""
        found = self.health()
        return found["ready"], found["reason"]

    # -- recommend --------------------------------------------------------------------------
    def _user_recs(self, version: str, user_id: str) -> tuple[Ranked | None, list[str]]:
        """(top-N or None, recently seen): one store round trip (seen items alone if cached)."""
        local = self._local
        cached = local.recs(version, user_id)
        if cached is not None:
            return cached, self._recent_seen(user_id)
        recs, seen = self._store_call("user_view", self.store.user_view, version, user_id)
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
        if policy is None:
            items, scores, fallback = self._model_answer(req, snap, filters)
            propensities = None
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
            extra = {"policy": policy.name} if policy is not None else {}
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
        try:
            recs, seen = self._user_recs(version, user)
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
        items, scores = _pick(recs, req.k, blocked, filters, snap)
        if len(items) < req.k and recs is not snap.popular:
            blocked.update(items)  # top up from the popularity list
            more_items, more_scores = _pick(
                snap.popular, req.k - len(items), blocked, filters, snap
            )
            items += more_items
            scores += more_scores
        return items, scores, fallback

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
            pool, _ = _pick(snap.popular, policy.pool_size, blocked, filters, snap)
            slate = policy.recommend(pool, req.k)
        except StoreError:
            items, scores = _pick(snap.popular, req.k, set(req.exclude), filters, snap)
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
        items, scores = _pick(found, req.k, {req.item_id}, {}, None)
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

    def submit_feedback(
        self, req: FeedbackRequest, request_id: str | None = None
    ) -> FeedbackTicket:
        """Route the event and hand it to the journal; the ticket's future says when it is
        durable (None without a journal). Raises ``JournalUnavailable`` (HTTP 503) when the
        journal refuses it at once (backlog full, closed)."""
        request_id = req.request_id or request_id or new_request_id()
        route = self.router.route(req.user_id)
        version = route.model_version or self.live_version
        event = make_event(
            req.user_id, req.item_id, req.event, req.value, event_id=req.event_id,
            request_id=request_id, model_version=version, experiment=route.experiment,
            variant=route.variant,
        )  # fmt: skip
        future = self.journal.submit(event) if self.journal is not None else None
        return FeedbackTicket(req, request_id, route, version, event, future)

    def complete_feedback(self, ticket: FeedbackTicket) -> dict[str, Any]:
        """The event is durable (or there is no journal): apply it and answer.

        The item leaves the user's next answers; for a user in a policy variant the event
        also goes to the policy (a click is a reward in the store's counters, shared by every
        worker); the answer's ``rewarded`` says whether it counted (policy variants only).
        Side effects come after durability, so a refused (503) event changes nothing.
        """
        req, route, version = ticket.req, ticket.route, ticket.version
        stored = True
        try:
            self._store_call("add_seen", self.store.add_seen, req.user_id, req.item_id)
        except StoreError:
            stored = False  # the RR log line below still records the event
            self._local.add_seen(req.user_id, req.item_id)  # left out here while it is down
        policy = self.policy_for(route)
        rewarded = None
        if policy is not None:
            try:
                rewarded = policy.feedback(req.item_id, req.event)
            except StoreError:
                rewarded = stored = False
        m = self.metrics
        m.child(m.feedback, req.event, version or "none", route.variant or "none").inc()
        event_id = ticket.event["event_id"]
        if self.rr_log is not None:
            self.rr_log.log(feedback_line(
                ticket.request_id, req.user_id, version, route.experiment, route.variant,
                req.item_id, req.event, req.value, event_id=event_id,
            ))  # fmt: skip
        answer = {
            "request_id": ticket.request_id,
            "model_version": version,
            "accepted": True,
            "stored": stored,
            "event_id": event_id,
            "durable": ticket.future is not None,
        }
        if rewarded is not None:
            answer["rewarded"] = rewarded
        return answer

    def feedback(self, req: FeedbackRequest, request_id: str | None = None) -> dict[str, Any]:
        """Make the event durable (waiting at most ``journal_timeout``), then apply it.

        The request id is the one the client sent (its recommendation's), else ``request_id``,
        else a new one. The HTTP layer does the same without blocking its event loop.
        """
        ticket = self.submit_feedback(req, request_id)
        if ticket.future is not None:
            wait_durable(ticket.future, self.journal_timeout)
        return self.complete_feedback(ticket)

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


def _pick(
    ranked: Ranked,
    k: int,
    blocked: set[str],
    filters: dict[str, set[str]],
    snap: LoadedVersion | None,
) -> tuple[list[str], list[float | None]]:
    """The first ``k`` items of ``ranked`` not blocked and passing the filters; NaN -> None."""
    items: list[str] = []
    scores: list[float | None] = []
    for item, score in zip(*ranked, strict=True):
        if item in blocked or (filters and not snap.accepts(item, filters)):
            continue
        items.append(item)
        scores.append(score if score is not None and math.isfinite(score) else None)
        if len(items) == k:
            break
    return items, scores
