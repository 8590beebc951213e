"""A circuit breaker around the feature store: a failing store costs one time budget, not one per request.

Each store call already has a time budget (the Redis socket timeout of the request path,
``NBREC_STORE_TIMEOUT_MS``). ``GuardedStore`` adds the memory of failure: after a call fails,
every call for the next ``retry_after`` seconds fails at once (``StoreError``, no network) and
the service answers from its in-process copy (``fallback: "store_unavailable"``). Then one call
is let through; when it succeeds the store is used again, so the service recovers by itself.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from nbrec.store import FeatureStore, StoreError

# Calls that never go through the breaker: writes of the pipeline and admin endpoints must see
# the real error, and ``ping`` is how readiness probes the store itself.
UNGUARDED = frozenset({"ping", "close", "backend", "write_version", "set_live", "delete_version"})


class CircuitOpen(StoreError):
    """The store failed recently; the call was not attempted."""


class Breaker:
    """Closed (calls go through) until a failure; open for ``retry_after`` s; then one trial."""

    def __init__(self, retry_after: float = 1.0, clock=time.monotonic):
        self.retry_after = retry_after
        self.clock = clock
        self.open_until = 0.0
        self.failures = 0  # consecutive
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """True if a call may go to the store now (the breaker is closed, or it is a trial)."""
        with self._lock:
            if self.clock() < self.open_until:
                return False
            if self.failures:
                # Half-open: this caller is the trial; others keep failing fast meanwhile.
                self.open_until = self.clock() + self.retry_after
            return True

    def record(self, ok: bool, error: str | None = None) -> None:
        with self._lock:
            if ok:
                self.failures, self.open_until, self.last_error = 0, 0.0, None
            else:
                self.failures += 1
                self.last_error = error
                self.open_until = self.clock() + self.retry_after


class GuardedStore:
    """A ``FeatureStore`` whose reads fail fast while the underlying store is failing."""

    def __init__(self, store: FeatureStore, retry_after: float = 1.0):
        self.store = store
        self.breaker = Breaker(retry_after)
        self.backend = store.backend

    def __getattr__(self, name: str) -> Any:
        """The store's attribute; a read method wrapped in the breaker, built once per name."""
        attr = getattr(self.store, name)
        if name in UNGUARDED or name.startswith("_") or not callable(attr):
            return attr
        breaker = self.breaker

        def guarded(*args, **kwargs):
            # Closed (no failure since the last success) the breaker has nothing to decide or
            # reset: its lock is taken only after a failure (one per request before, on the
            # request path). A failure recorded meanwhile by another thread counts from the next
            # call on, as if this one had started a moment earlier.
            if breaker.failures and not breaker.allow():
                raise CircuitOpen(
                    f"feature store skipped for {breaker.retry_after:g}s after an error "
                    f"({breaker.last_error}); answering from the in-process copy"
                )
            try:
                result = attr(*args, **kwargs)
            except StoreError as exc:
                breaker.record(False, str(exc))
                raise
            if breaker.failures:
                breaker.record(True)
            return result

        # Kept on the instance, so the request path's next lookups never reach __getattr__.
        self.__dict__[name] = guarded
        return guarded

    def __repr__(self) -> str:
        return repr(self.store)
