"""The request path's local cache: LRU-bounded top-N lists, TTL'd recently seen items."""

from __future__ import annotations

from nbrec.serving.cache import LocalCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_top_n_lists_are_kept_least_recently_used_first_out():
    cache = LocalCache(size=2)
    cache.put_recs("v1", "a", (["i1"], [1.0]))
    cache.put_recs("v1", "b", (["i2"], [1.0]))
    assert cache.recs("v1", "a") == (["i1"], [1.0])  # a is now the most recent
    cache.put_recs("v1", "c", (["i3"], [1.0]))
    assert cache.recs("v1", "b") is None and cache.recs("v1", "a") is not None
    assert cache.recs("v2", "a") is None  # a version flip reads other keys


def test_seen_items_expire_and_feedback_forgets_them():
    clock = Clock()
    cache = LocalCache(size=10, seen_ttl=2.0, clock=clock)
    cache.put_seen("a", ["i1"])
    clock.now += 1.9
    assert cache.seen("a") == ["i1"]
    clock.now += 0.2
    assert cache.seen("a") is None and cache.last_seen("a") == ["i1"]  # kept for store outages
    cache.put_seen("a", ["i1", "i2"])
    cache.forget_seen("a")
    assert cache.seen("a") is None and cache.last_seen("a") == []


def test_ttl_zero_turns_the_seen_cache_off():
    cache = LocalCache(size=10, seen_ttl=0.0)
    cache.put_seen("a", ["i1"])
    assert cache.seen("a") is None
