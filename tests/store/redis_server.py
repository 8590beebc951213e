"""A real redis-server for tests: started on a free port in a temp dir, stopped after.

Locally a missing binary skips with an install hint; in CI (CI=true) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: install it with `apt-get install {package}`"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test: {message}")
        pytest.skip(message)
    return path


@contextmanager
def redis_process(
    workdir: Path, port: int | None = None, durable: bool = False
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yield (URL, process) of a fresh redis-server and stop it afterwards (if still running).

    ``durable``: ``appendonly yes`` and ``appendfsync always`` (what nbrec's docs ask of the
    Redis that holds the event stream), so a SIGKILLed server restarted on the same ``port``
    and ``workdir`` has every write it acknowledged.
    """
    binary = require_binary("redis-server", "redis-server")
    port = port or _free_port()
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]  # fmt: skip
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence,
         "--dir", str(workdir)],
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


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Yield the URL of a fresh redis-server (no persistence) and stop it afterwards."""
    with redis_process(workdir) as (url, _):
        yield url


def wait_ready(proc: subprocess.Popen, client: redis.Redis, port: int) -> None:
    """Return once ``client`` gets an answer from the redis-server ``proc`` (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)
