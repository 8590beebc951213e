"""One contract every FeatureStore backend passes (run against SQLite and a real Redis)."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import pytest

from nbrec.store import Embeddings, FeatureStore, StoreError, VersionTables, open_store
from nbrec.store.base import RECENT_SEEN


def tables(tag: str, n_users: int = 5, with_embeddings: bool = True) -> VersionTables:
    rng = np.random.default_rng(len(tag))
    emb = Embeddings(
        item_ids=["i1", "i2", "i3"],
        item_vectors=rng.random((3, 4), dtype=np.float32),
        item_bias=np.array([0.1, 0.2, 0.3], dtype=np.float32),
        user_feature_names=["age=18-24", "country=DE"],
        user_feature_vectors=rng.random((2, 4), dtype=np.float32),
    )
    return VersionTables(
        info={"model": "test", "tag": tag},
        user_recs={f"u{n}": ([f"{tag}-a", f"{tag}-b"], [2.0, 1.0]) for n in range(n_users)},
        popular=(["i3", "i2", "i1"], [30.0, 20.0, 10.0]),
        similar={"i1": (["i2", "i3"], [0.9, 0.1])},
        item_meta={"i1": {"category": "a"}, "i2": {"category": "b"}, "i3": {"category": "a"}},
        embeddings=emb if with_embeddings else None,
    )


def test_is_a_feature_store(store):
    assert isinstance(store, FeatureStore)
    assert store.ping()
    assert store.live_version() is None and store.list_versions() == []


def test_write_then_flip_live(store):
    store.write_version("v1", tables("v1"))
    assert store.live_version() is None  # written is not live
    store.set_live("v1")
    assert store.live_version() == "v1"
    assert store.user_recs("v1", "u1") == (["v1-a", "v1-b"], [2.0, 1.0])
    assert store.user_recs("v1", "nobody") is None
    assert store.popular("v1") == (["i3", "i2", "i1"], [30.0, 20.0, 10.0])
    assert store.similar("v1", "i1") == (["i2", "i3"], [0.9, 0.1])
    assert store.similar("v1", "i9") is None
    assert store.version_info("v1") == {"model": "test", "tag": "v1"}


def test_item_meta_all_and_some(store):
    store.write_version("v1", tables("v1"))
    assert store.item_meta("v1") == {
        "i1": {"category": "a"}, "i2": {"category": "b"}, "i3": {"category": "a"}
    }  # fmt: skip
    assert store.item_meta("v1", ["i2", "nope"]) == {"i2": {"category": "b"}}


def test_embeddings_round_trip_as_float32(store):
    written = tables("v1")
    store.write_version("v1", written)
    emb = store.item_vectors("v1")
    assert emb.item_ids == ["i1", "i2", "i3"]
    assert emb.item_vectors.dtype == np.float32
    np.testing.assert_array_equal(emb.item_vectors, written.embeddings.item_vectors)
    np.testing.assert_array_equal(emb.item_bias, written.embeddings.item_bias)
    np.testing.assert_array_equal(emb.user_feature_vectors, written.embeddings.user_feature_vectors)
    assert emb.user_feature_names == ["age=18-24", "country=DE"]
    store.write_version("v2", tables("v2", with_embeddings=False))
    assert store.item_vectors("v2") is None


def test_versions_are_immutable_and_names_checked(store):
    store.write_version("v1", tables("v1"))
    with pytest.raises(ValueError, match="already exists"):
        store.write_version("v1", tables("v1"))
    with pytest.raises(ValueError, match="invalid version"):
        store.write_version("bad version/../x", tables("x"))
    with pytest.raises(ValueError, match="no complete version"):
        store.set_live("never-written")


def test_history_rollback_and_cleanup(store):
    for n in range(1, 6):
        store.write_version(f"v{n}", tables(f"v{n}"))
        store.set_live(f"v{n}")
    assert store.list_versions() == ["v5", "v4", "v3", "v2", "v1"]
    assert store.live_history() == ["v4", "v3", "v2", "v1"]
    store.set_live("v4")  # rollback
    assert store.live_version() == "v4"
    assert store.live_history()[0] == "v5"
    with pytest.raises(ValueError, match="it is live"):
        store.delete_version("v4")
    # keep the 2 newest plus the live one
    assert sorted(store.cleanup(keep=2)) == ["v1", "v2", "v3"]
    assert store.list_versions() == ["v5", "v4"]
    assert store.user_recs("v1", "u1") is None and store.version_info("v1") is None


def test_cleanup_never_deletes_the_live_version(store):
    for n in range(1, 4):
        store.write_version(f"v{n}", tables(f"v{n}"))
    store.set_live("v1")  # the oldest is live
    assert sorted(store.cleanup(keep=1)) == ["v2"]
    assert store.list_versions() == ["v3", "v1"]


def test_recent_seen_is_newest_first_deduplicated_and_bounded(store):
    for item in ["a", "b", "c", "a"]:
        store.add_seen("u1", item)
    assert store.recent_seen("u1") == ["a", "c", "b"]
    assert store.recent_seen("u2") == []
    for n in range(RECENT_SEEN + 10):
        store.add_seen("u3", f"x{n}")
    seen = store.recent_seen("u3")
    assert len(seen) == RECENT_SEEN and seen[0] == f"x{RECENT_SEEN + 9}"


def test_user_view_returns_recs_and_seen_together(store):
    store.write_version("v1", tables("v1"))
    store.add_seen("u1", "v1-a")
    assert store.user_view("v1", "u1") == ((["v1-a", "v1-b"], [2.0, 1.0]), ["v1-a"])
    assert store.user_view("v1", "ghost") == (None, [])


def test_counters_increment_atomically_across_threads(store):
    def hammer():
        for _ in range(50):
            store.incr_counter("exp", "arm-a", pulls=1, rewards=0.5)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.incr_counter("exp", "arm-b", pulls=1)
    assert store.counters("exp") == {"arm-a": (200, 100.0), "arm-b": (1, 0.0)}
    assert store.counters("other") == {}


def test_live_flip_is_atomic_for_concurrent_readers(store):
    """Readers following the live pointer always find a complete version."""
    store.write_version("v0", tables("v0", n_users=50))
    store.set_live("v0")
    errors: list[str] = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            version = store.live_version()
            recs = store.user_recs(version, "u7")
            if recs is None or recs[0][0] != f"{version}-a":
                errors.append(f"{version}: {recs}")

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for n in range(1, 6):
        store.write_version(f"v{n}", tables(f"v{n}", n_users=50))
        store.set_live(f"v{n}")
    stop.set()
    for t in readers:
        t.join()
    assert errors == []


def test_unreachable_store_raises_store_error(tmp_path):
    dead = open_store("redis://127.0.0.1:1/0")
    assert dead.ping() is False
    with pytest.raises(StoreError):
        dead.user_view("v1", "u1")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    bad = open_store(f"sqlite:///{blocked / 'features.db'}")
    assert bad.ping() is False
    with pytest.raises(StoreError):
        bad.live_version()


def test_open_store_rejects_unknown_urls():
    with pytest.raises(ValueError, match="unsupported store URL"):
        open_store("mysql://x")


def test_a_version_made_live_while_being_deleted_is_never_left_dangling(store):
    """set_live and delete_version of one version race: one of them refuses, never both pass."""
    for attempt in range(30):
        old, new = f"old{attempt}", f"new{attempt}"
        store.write_version(old, tables(old, n_users=1, with_embeddings=False))
        store.write_version(new, tables(new, n_users=1, with_embeddings=False))
        store.set_live(new)
        barrier = threading.Barrier(2)

        def race(action, version=old, barrier=barrier) -> None:
            barrier.wait()
            with contextlib.suppress(ValueError):  # the other call won: this one is refused
                action(version)

        threads = [
            threading.Thread(target=race, args=(a,)) for a in (store.set_live, store.delete_version)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        live = store.live_version()
        assert store.version_info(live) is not None, f"live pointer names deleted {live!r}"


def test_many_users_read_back_in_batches_in_their_order(store):
    """The pipeline's read-back: every user's list (or None), in the order asked, duplicates too."""
    store.write_version("v1", tables("v1", n_users=40))
    asked = ["u7", "ghost", "u0", "u39", "u7"]
    assert store.user_recs_many("v1", asked) == [store.user_recs("v1", u) for u in asked]
    assert store.user_recs_many("v1", asked)[1] is None
    assert store.user_recs_many("v1", []) == []
    everyone = [f"u{n}" for n in range(40)]
    assert store.user_recs_many("v1", everyone) == [(["v1-a", "v1-b"], [2.0, 1.0])] * 40
