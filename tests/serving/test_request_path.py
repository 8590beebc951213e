"""The request path in process, on a real SQLite store (and Redis for store failures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import redis

from nbrec.pipeline.publish import build_tables, publish
from nbrec.rrlog.schema import iso_utc
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.schemas import FeedbackRequest, RecommendRequest, SimilarItemsRequest
from nbrec.serving.service import NotFound, NotReady, RecommendationService, Route
from nbrec.store import open_store
from tests.conftest import ROOT


def rec(svc, user, **kw):
    return svc.recommend(RecommendRequest(user_id=user, **kw))


def ids(payload) -> list[str]:
    return [i["item_id"] for i in payload["items"]]


def test_known_user_gets_the_models_own_top_k(service, item_knn):
    user = str(item_knn.user_ids_[3])
    expected = item_knn.recommend([user], k=10)
    answer = rec(service, user, k=10)
    assert answer["fallback"] is None and answer["model_version"] == "v1"
    assert ids(answer) == expected["item_id"].tolist()
    np.testing.assert_allclose([i["score"] for i in answer["items"]], expected["score"], rtol=1e-6)
    assert len(answer["request_id"]) == 32


def test_feedback_removes_the_item_from_the_next_answer(service, item_knn):
    user = str(item_knn.user_ids_[5])
    first = ids(rec(service, user, k=5))
    out = service.feedback(FeedbackRequest(user_id=user, item_id=first[0], event="click"))
    assert out["stored"] is True
    second = ids(rec(service, user, k=5))
    assert first[0] not in second and second[:4] == first[1:]


def test_every_answer_reads_seen_items_so_other_replicas_feedback_counts_at_once(
    sqlite_store, item_knn
):
    """A user whose top-N is cached still costs one seen-items read per answer: feedback that
    another replica wrote straight to the store leaves this process's next answer."""
    publish(item_knn, "v1", sqlite_store)
    svc = RecommendationService(sqlite_store, refresh_interval=60)
    user = str(item_knn.user_ids_[5])
    first = ids(rec(svc, user, k=5))

    def reads(operation: str) -> float:
        return (
            svc.metrics.registry.get_sample_value(
                "nbrec_store_duration_seconds_count", {"backend": "sqlite", "operation": operation}
            )
            or 0.0
        )

    before = reads("user_view"), reads("recent_seen")
    assert ids(rec(svc, user, k=5)) == first
    assert (reads("user_view"), reads("recent_seen")) == (before[0], before[1] + 1)
    sqlite_store.add_seen(user, first[1])  # another replica's feedback
    assert first[1] not in ids(rec(svc, user, k=5))
    svc.feedback(FeedbackRequest(user_id=user, item_id=first[0], event="click"))
    assert first[0] not in ids(rec(svc, user, k=5))
    svc.close()


def test_exclude_and_category_filter(service, item_knn, small_data):
    user = str(item_knn.user_ids_[7])
    first = ids(rec(service, user, k=5))
    assert first[0] not in ids(rec(service, user, k=5, exclude=[first[0]]))
    category = small_data.items.set_index("item_id")["category"]
    wanted = category.iloc[0]
    filtered = rec(service, user, k=5, filters={"category": [wanted]})
    assert len(filtered["items"]) == 5 and {category[i] for i in ids(filtered)} == {wanted}
    assert rec(service, user, k=5, filters={"category": "no-such"})["items"] == []


def test_short_lists_are_topped_up_from_popularity(sqlite_store, item_knn):
    publish(item_knn, "short", sqlite_store, top_n=3)
    svc = RecommendationService(sqlite_store, refresh_interval=0)
    user = str(item_knn.user_ids_[0])
    answer = ids(rec(svc, user, k=6))
    assert answer[:3] == item_knn.recommend([user], k=3)["item_id"].tolist()
    assert len(answer) == 6 == len(set(answer))


def test_unknown_user_gets_popularity(service, item_knn):
    answer = rec(service, "never-seen", k=5)
    assert answer["fallback"] == "unknown_user"
    top = np.argsort(-item_knn.item_popularity_, kind="stable")[:5]
    assert [i["score"] for i in answer["items"]] == item_knn.item_popularity_[top].tolist()


def test_cold_start_scores_by_user_features(sqlite_store, lightfm, small_data):
    publish(lightfm, "lfm", sqlite_store, items=small_data.items)
    svc = RecommendationService(sqlite_store, refresh_interval=0)
    features = {"age_band": "25-34", "country": "DE"}
    answer = rec(svc, "new-user", k=10, user_features=features)
    assert answer["fallback"] == "cold_start"
    # Reference: the model's own scoring of a feature-only user, computed independently.
    scores = lightfm.score_user_features(["age_band=25-34", "country=DE"])
    expected = lightfm.item_ids_[np.argsort(-scores, kind="stable")[:10]].tolist()
    assert ids(answer) == expected
    unknown_features = rec(svc, "new-user", k=3, user_features={"planet": "mars"})
    assert unknown_features["fallback"] == "unknown_user"


def test_similar_items(service, item_knn):
    item = str(item_knn.item_ids_[0])
    answer = service.similar_items(SimilarItemsRequest(item_id=item, k=5))
    assert answer["model_version"] == "v1" and item not in ids(answer)
    scores = [i["score"] for i in answer["items"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    with pytest.raises(NotFound, match="unknown item_id 'nope'"):
        service.similar_items(SimilarItemsRequest(item_id="nope"))


def test_nothing_published_is_not_ready(sqlite_store):
    svc = RecommendationService(sqlite_store, refresh_interval=0)
    ready, reason = svc.ready()
    assert not ready and "publish" in reason
    with pytest.raises(NotReady, match="publish"):
        rec(svc, "u1")


def test_new_version_is_picked_up_without_restart(service, sqlite_store, popularity, small_data):
    assert rec(service, "u001")["model_version"] == "v1"
    publish(popularity, "v2", sqlite_store, items=small_data.items)
    assert rec(service, "u001")["model_version"] == "v2"
    sqlite_store.set_live("v1")  # rollback
    assert rec(service, "u001")["model_version"] == "v1"


def test_refresh_interval_bounds_live_pointer_reads(sqlite_store, item_knn, popularity):
    publish(item_knn, "v1", sqlite_store)
    svc = RecommendationService(sqlite_store, refresh_interval=3600)
    assert rec(svc, "u001")["model_version"] == "v1"
    publish(popularity, "v2", sqlite_store)
    assert rec(svc, "u001")["model_version"] == "v1"  # not re-read yet
    assert svc.refresh() == "v2"


class PinnedRouter:
    """A router like the experiments engineer's: half the users to a pinned version."""

    def route(self, user_id: str) -> Route:
        if user_id.endswith(("0", "2", "4", "6", "8")):
            return Route("exp1", "treatment", "v1")
        return Route("exp1", "control", None)


def test_vanished_pinned_version_served_live_and_looked_up_once_per_refresh(
    sqlite_store, popularity
):
    publish(popularity, "v2", sqlite_store)  # live; PinnedRouter pins "v1", never published
    asked: list[str] = []
    version_info = sqlite_store.version_info
    sqlite_store.version_info = lambda v: asked.append(v) or version_info(v)
    svc = RecommendationService(sqlite_store, router=PinnedRouter(), refresh_interval=3600)
    treated = [rec(svc, user) for user in ("u010", "u012", "u014")]
    assert [(a["model_version"], a["variant"]) for a in treated] == [("v2", "treatment")] * 3
    assert asked.count("v1") == 1
    svc.refresh()
    rec(svc, "u010")
    assert asked.count("v1") == 2


def test_router_seam_pins_versions_and_logs_exposures(sqlite_store, item_knn, popularity, tmp_path):
    publish(item_knn, "v1", sqlite_store)
    publish(popularity, "v2", sqlite_store)  # live
    log = RRLogger(tmp_path / "logs")
    svc = RecommendationService(sqlite_store, router=PinnedRouter(), rr_log=log, refresh_interval=0)
    treated, control = rec(svc, "u010"), rec(svc, "u011")
    assert (treated["model_version"], treated["variant"]) == ("v1", "treatment")
    assert (control["model_version"], control["variant"]) == ("v2", "control")
    log.flush()
    lines = [
        json.loads(x)
        for f in (tmp_path / "logs").glob("rr-*.jsonl")
        for x in f.read_text().splitlines()
    ]
    exposures = [x for x in lines if x["kind"] == "exposure"]
    assert {(x["user_id"], x["experiment"], x["variant"]) for x in exposures} == {
        ("u010", "exp1", "treatment"), ("u011", "exp1", "control")
    }  # fmt: skip


def test_rr_log_lines_follow_the_schema(service, item_knn, tmp_path):
    user = str(item_knn.user_ids_[1])
    answer = rec(service, user, k=4)
    service.feedback(FeedbackRequest(user_id=user, item_id="i001", event="rating", value=4.5,
                                     request_id=answer["request_id"]))  # fmt: skip
    service.rr_log.flush()
    files = list((tmp_path / "logs").glob("rr-*.jsonl"))
    lines = [json.loads(x) for x in files[0].read_text().splitlines()]
    request, feedback = lines
    common = {"ts", "kind", "request_id", "user_id", "model_version", "experiment", "variant"}
    assert common | {"k", "items", "scores", "propensities", "fallback", "latency_ms", "status",
                     "endpoint"} <= request.keys()  # fmt: skip
    assert request["items"] == ids(answer) and request["status"] == 200 and request["k"] == 4
    assert request["ts"].endswith("Z") and request["endpoint"] == "/recommend"
    assert common | {"item_id", "event", "value"} <= feedback.keys()
    assert (feedback["request_id"], feedback["event"], feedback["value"]) == (
        answer["request_id"], "rating", 4.5)  # fmt: skip


def test_rr_log_timestamps_read_as_datetime_writes_them():
    # The writer formats each second once; the text must equal datetime's, rounding included.
    def reference(stamp: float) -> str:
        text = datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")

    rng = np.random.default_rng(7)
    stamps = [*rng.uniform(-1e9, 4e9, 20_000), *(1e9 + n / 1e6 for n in range(-3_000, 3_000)),
              1e9 + 0.9999995, 1e9 + 0.9995, 0.0, -0.0004, -1.5, 1764547200.1234565]  # fmt: skip
    assert [iso_utc(float(s)) for s in stamps] == [reference(float(s)) for s in stamps]


def test_rr_log_never_blocks_and_counts_drops(tmp_path):
    drops = []
    log = RRLogger(tmp_path, queue_size=1, on_drop=lambda: drops.append(1))
    for n in range(5_000):
        log.log({"kind": "request", "n": n})
    log.flush()
    log.close()
    assert log.dropped > 0 and log.dropped == len(drops)
    written = sum(len(f.read_text().splitlines()) for f in tmp_path.glob("rr-*.jsonl"))
    assert written + log.dropped == 5_000


def test_rr_log_rotates_into_numbered_rr_files_and_deletes_none(tmp_path):
    log = RRLogger(tmp_path, max_bytes=2_000)
    for n in range(200):
        log.log({"kind": "request", "n": n, "pad": "x" * 50})
    log.close()
    names = sorted(f.name for f in tmp_path.iterdir())
    assert len(names) > 5 and all(n.startswith("rr-") and n.endswith(".jsonl") for n in names)
    lines = [json.loads(x) for f in tmp_path.iterdir() for x in f.read_text().splitlines()]
    assert sorted(line["n"] for line in lines) == list(range(200))  # every line still on disk


def test_metrics_carry_the_agreed_names(service, item_knn):
    rec(service, str(item_knn.user_ids_[0]))
    rec(service, "cold", k=3)
    service.feedback(FeedbackRequest(user_id="cold", item_id="i001", event="click"))
    text = service.metrics.render().decode()
    for line in [
        'nbrec_recommendations_total{fallback="none",model_version="v1",variant="none"} 1.0',
        'nbrec_recommendations_total{fallback="unknown_user",model_version="v1",variant="none"} 1.0',
        'nbrec_feedback_events_total{event="click",model_version="v1",variant="none"} 1.0',
        'nbrec_live_model_info{model_version="v1"} 1.0',
        'nbrec_store_duration_seconds_count{backend="sqlite",operation="user_view"} 2.0',
    ]:
        assert line in text
    for name in ["nbrec_empty_recommendations_total", "nbrec_null_scores_total",
                 "nbrec_store_errors_total", "nbrec_live_model_published_timestamp_seconds",
                 "nbrec_log_lines_dropped_total", "nbrec_requests_total",
                 "nbrec_request_duration_seconds"]:  # fmt: skip
        assert f"# TYPE {name.removesuffix('_total')}" in text


def test_empty_answers_are_counted(service, item_knn):
    all_items = [str(i) for i in item_knn.item_ids_]
    answer = rec(service, "cold", k=5, exclude=all_items[:500])
    assert answer["items"] == []
    assert (
        'nbrec_empty_recommendations_total{model_version="v1"} 1.0'
        in service.metrics.render().decode()
    )


@pytest.mark.redis
def test_store_outage_falls_back_to_the_last_known_good_copy(redis_url, item_knn, small_data):
    store = open_store(redis_url)
    publish(item_knn, "v1", store, items=small_data.items)
    svc = RecommendationService(store, refresh_interval=0)
    known = str(item_knn.user_ids_[2])
    before = rec(svc, known, k=5)
    redis.Redis.from_url(redis_url).shutdown(nosave=True)  # the store goes away for real
    during = rec(svc, known, k=5)
    assert during["fallback"] == "store_unavailable" and ids(during) == ids(before)
    cold = rec(svc, "someone-new", k=5)
    popular = build_tables(item_knn, "x").popular[0][:5]
    assert cold["fallback"] == "store_unavailable" and ids(cold) == popular
    health = svc.health()  # still answering: ready for the balancer, but degraded
    assert health["ready"] is True and health["degraded"] is True, health
    assert "unreachable" in health["reason"]
    assert "nbrec_store_up 0.0" in svc.metrics.render().decode()
    assert (
        svc.feedback(FeedbackRequest(user_id=known, item_id="i001", event="view"))["stored"]
        is False
    )
    text = svc.metrics.render().decode()
    for op in ("recent_seen", "user_view", "add_seen"):  # cached user, new user, feedback
        assert f'nbrec_store_errors_total{{backend="redis",operation="{op}"}} 1.0' in text


def test_experiments_folder_plugs_the_experiment_router_in(tmp_path, item_knn, popularity):
    """build_service reads experiments/*.yaml; a variant pinned to a version is served that version."""
    from nbrec.settings import Settings
    from nbrec.wiring import build_service

    example = (ROOT / "experiments" / "examples" / "ranker-ab.yaml").read_text()
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "ranker-ab.yaml").write_text(example.replace("candidate", "cand"))
    settings = Settings(var_dir=tmp_path / "var", experiments_dir=tmp_path / "exp",
                        store_url=f"sqlite:///{tmp_path / 'f.db'}")  # fmt: skip
    svc = build_service(settings)
    publish(item_knn, "cand", svc.store, make_live=False)
    publish(popularity, "live-one", svc.store)
    seen = {}
    for n in range(200):
        answer = rec(svc, f"user{n}", k=3)
        seen[(answer["experiment"], answer["variant"])] = answer["model_version"]
    svc.close()
    assert seen[("ranker-ab", "treatment")] == "cand"
    assert seen[("ranker-ab", "control")] == "live-one"
    assert seen[(None, None)] == "live-one"  # outside the experiment's half of the layer


def test_answers_without_the_top_n_cache_equal_those_with_it(sqlite_store, item_knn, small_data):
    """Without the cache only the head of a stored list is decoded (k + excluded + seen items):
    every answer is the one the whole list gives, seen items, exclusions, filters and short
    lists (a top-up from the popularity list) included."""
    publish(item_knn, "v1", sqlite_store, items=small_data.items)
    whole = RecommendationService(sqlite_store, refresh_interval=60)
    heads = RecommendationService(sqlite_store, refresh_interval=60, cache_size=0)
    key, value = next(iter(sqlite_store.item_meta("v1").values())).copy().popitem()
    users = [str(u) for u in item_knn.user_ids_[:40]]
    for n, user in enumerate(users):
        top = ids(rec(whole, user, k=30))
        for item in top[n % 4 : n % 4 + n % 9]:  # up to 8 seen items, some in the first k
            sqlite_store.add_seen(user, item)
        asks = [
            {"k": 1 + n % 12},
            {"k": 100},  # longer than the stored list: topped up from the popularity list
            {"k": 5, "exclude": top[: n % 6] + ["not-an-item"]},
            {"k": 4, "filters": {key: value}},
        ]
        for ask in asks:
            a, b = rec(whole, user, **ask), rec(heads, user, **ask)
            assert a.pop("request_id") != b.pop("request_id")
            assert a == b, (user, ask)
    whole.close()
    heads.close()
