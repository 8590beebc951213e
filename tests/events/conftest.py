"""Journals for the contract tests: SQLite in a temp dir and a real redis-server with AOF on."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from nbrec.events import open_journal
from tests.store.redis_server import _free_port, require_binary, wait_ready


@contextmanager
def durable_redis(workdir: Path, port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server with ``appendonly yes`` and ``appendfsync always`` (what the docs ask)."""
    binary = require_binary("redis-server", "redis-server")
    port = port or _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
         "--appendfsync", "always", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        wait_ready(proc, client, port)
        yield url, proc
    finally:
        client.close()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


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
