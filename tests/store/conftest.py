from __future__ import annotations

import pytest
import redis

from nbrec.store import open_store
from tests.store.redis_cluster import redis_cluster
from tests.store.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A real Redis Cluster of three masters, shared by the contract tests."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster"), masters=3) as found:
        yield found


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=pytest.mark.redis),
    ]
)
def store(request, tmp_path):
    """The same contract, once per backend; each test starts from an empty store."""
    if request.param == "sqlite":
        backend = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        backend = open_store(url)
    else:
        cluster = request.getfixturevalue("cluster")
        cluster.flush()
        backend = open_store(cluster.url)
    yield backend
    backend.close()
