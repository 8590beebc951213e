"""A live pointer flipped to a version whose stored tables are corrupt: the last good version
stays live, no request fails, and the bad version is not reloaded on every refresh."""

from __future__ import annotations

import sqlite3

from nbrec.pipeline.publish import publish
from nbrec.serving.schemas import RecommendRequest
from nbrec.serving.service import RecommendationService
from nbrec.store import open_store


def test_corrupt_live_version_keeps_the_last_good_one(tmp_path, item_knn, small_data):
    path = tmp_path / "features.db"
    store = open_store(f"sqlite:///{path}")
    publish(item_knn, "good", store, items=small_data.items)
    svc = RecommendationService(store, refresh_interval=0)
    user = str(item_knn.user_ids_[0])
    assert svc.recommend(RecommendRequest(user_id=user, k=5))["model_version"] == "good"

    publish(item_knn, "bad", store, items=small_data.items, make_live=False)
    with sqlite3.connect(path) as db:  # the bytes on disk go bad after a complete publish
        db.execute("UPDATE versions SET info = ? WHERE version = 'bad'", (b"{not json",))
    store.set_live("bad")

    loads = []
    original = svc._snapshot

    def counting(version):
        if version == "bad":
            loads.append(version)
        return original(version)

    svc._snapshot = counting
    for _ in range(20):
        answer = svc.recommend(RecommendRequest(user_id=user, k=5))
        assert answer["model_version"] == "good" and len(answer["items"]) == 5
    assert svc.live_version == "good"
    assert len(loads) == 1, "a corrupt version must not be reloaded on every refresh"
    ok, _ = svc.ready()
    assert ok
    svc.close()
    store.close()
