"""SQLite orders a user's seen items by a sequence, not by the raw clock.

``time.time_ns()`` can return the same value twice (coarse clocks) or step back (NTP); the
newest item must still come first.
"""

from __future__ import annotations

import itertools

from nbrec.store import open_store


def test_seen_order_survives_a_stuck_or_backward_clock(tmp_path, monkeypatch):
    store = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    ticks = itertools.chain([1_000, 1_000, 999], itertools.repeat(5_000))
    monkeypatch.setattr("nbrec.store.sqlite.time.time_ns", lambda: next(ticks))
    for item in ("a", "b", "c", "d"):
        store.add_seen("u1", item)
    assert store.recent_seen("u1") == ["d", "c", "b", "a"]
    store.close()
