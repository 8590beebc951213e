from __future__ import annotations

import pytest
import redis

from nbrec.store import open_store
from tests.store.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, tmp_path):
    """The same contract, once per backend; each test starts from an empty store."""
    if request.param == "sqlite":
        backend = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    else:
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        backend = open_store(url)
    yield backend
    backend.close()
