"""The request path's local cache: LRU-bounded top-N lists, the last seen items read."""

from __future__ import annotations

from nbrec.serving.cache import LocalCache


def test_top_n_lists_are_kept_least_recently_used_first_out():
    cache = LocalCache(size=2)
    cache.put_recs("v1", "a", (["i1"], [1.0]))
    cache.put_recs("v1", "b", (["i2"], [1.0]))
    assert cache.recs("v1", "a") == (["i1"], [1.0])  # a is now the most recent
    cache.put_recs("v1", "c", (["i3"], [1.0]))
    assert cache.recs("v1", "b") is None and cache.recs("v1", "a") is not None
    assert cache.recs("v2", "a") is None  # a version flip reads other keys


def test_seen_items_are_kept_for_outages_only():
    cache = LocalCache(size=2)
    assert cache.last_seen("a") == []
    cache.put_seen("a", ["i1"])
    cache.add_seen("a", "i2")  # feedback the store could not take
    assert cache.last_seen("a") == ["i2", "i1"]
    cache.put_seen("b", [])
    cache.put_seen("c", [])
    assert cache.last_seen("a") == []  # bounded like the top-N lists
