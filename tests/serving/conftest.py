"""Fixtures for the serving tests: fitted models on small synthetic data, stores, a service."""

from __future__ import annotations

import pytest

from nbrec.data.synthetic import generate
from nbrec.models import make_model
from nbrec.pipeline.publish import publish
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.service import RecommendationService
from nbrec.store import open_store
from tests.store.redis_server import redis_server


@pytest.fixture(scope="session")
def small_data():
    return generate(users=300, items=120, interactions=6_000, seed=7)


@pytest.fixture(scope="session")
def item_knn(small_data):
    return make_model("item_knn").fit(small_data.interactions, small_data.items, small_data.users)


@pytest.fixture(scope="session")
def popularity(small_data):
    return make_model("popularity").fit(small_data.interactions, small_data.items, small_data.users)


@pytest.fixture(scope="session")
def lightfm(small_data):
    pytest.importorskip("nbrec.models.lightfm_model")  # registers "lightfm"
    model = make_model("lightfm", no_components=16, max_epochs=10, num_threads=1)
    return model.fit(small_data.interactions, small_data.items, small_data.users)


@pytest.fixture
def sqlite_store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    yield store
    store.close()


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of the test's own (tests may shut it down)."""
    with redis_server(tmp_path) as url:
        yield url


@pytest.fixture
def service(sqlite_store, item_knn, small_data, tmp_path):
    """item_knn published live as v1, served with an RR log under tmp_path/logs."""
    publish(item_knn, "v1", sqlite_store, items=small_data.items)
    svc = RecommendationService(
        sqlite_store, rr_log=RRLogger(tmp_path / "logs"), refresh_interval=0
    )
    yield svc
    svc.close()
