"""``wait_ready``: the one poll-until-healthy loop every started server goes through."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from nbrec.lifetime import wait_ready
from tests.serving.server import free_port


def test_returns_once_the_server_answers_200(tmp_path):
    (tmp_path / "health").write_text("OK")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", "http.server", 60, server)
        with pytest.raises(TimeoutError, match=r"http.server at .*/missing not ready after 1 s"):
            wait_ready(f"http://127.0.0.1:{port}/missing", "http.server", 1, server)  # a 404
    finally:
        server.terminate()
        server.wait(10)


def test_a_server_that_died_fails_at_once_with_its_log(tmp_path):
    log = tmp_path / "server.log"
    with log.open("w") as out:
        dead = subprocess.Popen([sys.executable, "-c", "print('port in use'); raise SystemExit(3)"],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    dead.wait(30)
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"(?s)Superset at .* exited with code 3.*port in use"):
        wait_ready(f"http://127.0.0.1:{free_port()}/health", "Superset", 60, dead, log)
    assert time.monotonic() - began < 5
