"""Which version answers: the live pointer, the loaded versions, pinned variants, readiness.

``LiveVersions`` is the base of ``RecommendationService``: it re-reads the store's live pointer
at most every ``refresh_interval`` seconds and loads a new version (``LoadedVersion``) before it
switches to it, so a publish never fails a request; a version that cannot be loaded leaves the
last good one live. Every store call is timed and counted (``nbrec_store_*``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from nbrec.serving.loaded_version import LoadedVersion, UnknownVersion
from nbrec.serving.prometheus import ServingMetrics
from nbrec.serving.routing import Route, Router
from nbrec.store import FeatureStore, StoreError

REFRESH_INTERVAL = 0.25
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


STORE_OPS = ("user_view", "recent_seen", "similar", "add_seen", "live_version", "snapshot")


class LiveVersions:
    """The versions a service answers from, kept current from the store's live pointer."""

    def __init__(
        self, store: FeatureStore, router: Router, metrics: ServingMetrics,
        refresh_interval: float = REFRESH_INTERVAL,
    ):  # fmt: skip
        self.store = store
        self.router = router
        self.metrics = metrics
        self.refresh_interval = refresh_interval
        self.live_version: str | None = None
        self._snapshots: dict[str, LoadedVersion] = {}
        self._unloadable: set[str] = set()  # pinned versions that failed to load, until refresh
        self._corrupt: set[str] = set()  # versions whose tables cannot be read: never retried
        self._checked = -math.inf
        self._lock = threading.Lock()
        m, backend = metrics, store.backend
        self._store_timers = {
            op: (m.child(m.store_duration, backend, op), m.child(m.store_errors, backend, op))
            for op in STORE_OPS
        }

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
        return route, self._pinned(route.model_version, live)

    def _pinned(self, pinned: str | None, live: LoadedVersion) -> LoadedVersion:
        """The snapshot of a variant's version (None: live); live when it cannot be loaded."""
        if (
            pinned is None
            or pinned == live.version
            or pinned in self._unloadable
            or pinned in self._corrupt
        ):
            return live
        try:
            return self._load_or_mark_corrupt(pinned)
        except KEEP_LAST_GOOD:
            # A pinned variant's version vanished (e.g. cleaned up): serve live, and ask the
            # store again after the next refresh rather than on every request of the variant.
            self._unloadable.add(pinned)
            return live

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
