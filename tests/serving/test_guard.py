"""The feature store's circuit breaker (``nbrec.serving.guard``) on a real SQLite store that
cannot be opened, then can: fail fast for ``retry_after`` s, one trial, closed again."""

from __future__ import annotations

import pytest

from nbrec.serving.guard import CircuitOpen, GuardedStore
from nbrec.store import StoreError, open_store


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_on_a_failure_tries_once_after_retry_after_and_closes(tmp_path):
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store's folder should be")
    guarded = GuardedStore(open_store(f"sqlite:///{blocker / 'features.db'}"), retry_after=2.0)
    breaker = guarded.breaker
    breaker.clock = clock = Clock()

    with pytest.raises(StoreError) as first:
        guarded.recent_seen("u1")
    assert not isinstance(first.value, CircuitOpen) and breaker.failures == 1
    with pytest.raises(CircuitOpen, match="skipped for 2s"):
        guarded.recent_seen("u1")  # open: the store is not asked
    assert breaker.failures == 1

    clock.now += 2.0  # half-open: one trial, still failing, opens again
    with pytest.raises(StoreError) as trial:
        guarded.recent_seen("u1")
    assert not isinstance(trial.value, CircuitOpen) and breaker.failures == 2
    with pytest.raises(CircuitOpen):
        guarded.recent_seen("u1")

    blocker.unlink()  # the store can be opened now
    clock.now += 2.0
    assert guarded.recent_seen("u1") == []  # the trial succeeds: closed
    assert (breaker.failures, breaker.open_until, breaker.last_error) == (0, 0.0, None)
    for _ in range(3):  # closed: every call goes to the store
        assert guarded.recent_seen("u1") == []
    guarded.store.add_seen("u1", "i1")
    assert guarded.recent_seen("u1") == ["i1"]
    guarded.close()
