"""Journals for the contract tests: SQLite in a temp dir and a real redis-server with AOF on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nbrec.events import open_journal
from tests.store.redis_server import redis_process


def durable_redis(workdir: Path, port: int | None = None):
    """A redis-server with ``appendonly yes`` and ``appendfsync always`` (what the docs ask)."""
    return redis_process(workdir, port, durable=True)


@pytest.fixture
def redis_events(tmp_path) -> Iterator[str]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    with durable_redis(workdir) as (url, _):
        yield url


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def journal_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    return request.getfixturevalue("redis_events")


@pytest.fixture
def journal(journal_url):
    backend = open_journal(journal_url)
    yield backend
    backend.close()
