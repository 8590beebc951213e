"""kill -9 leaves no orphan: the BentoML worker dies with ``nbrec serve``'s process group (and a
restart on the same port works); ``nbrec train``'s Prefect server dies with ``nbrec train``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.lifetime import wait_ready
from nbrec.pipeline.publish import publish
from tests.serving.server import NBREC, START_TIMEOUT, free_port, service_env


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def wait_gone(processes: list[psutil.Process], timeout: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(processes)


def start_serve(workdir: Path, store_url: str, port: int) -> subprocess.Popen:
    """``nbrec serve`` on ``port`` in a session of its own, once /readyz answers 200."""
    log = open(workdir / f"serve-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([NBREC, "serve", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env=service_env(workdir, store_url))  # fmt: skip
    url = f"http://127.0.0.1:{port}/readyz"
    wait_ready(url, "nbrec serve", START_TIMEOUT, proc, Path(log.name))
    return proc


@pytest.mark.service
def test_kill_9_of_serve_leaves_no_worker_and_the_port_can_be_reused(tmp_path, item_knn):
    (tmp_path / "var").mkdir()
    url = f"sqlite:///{tmp_path / 'var' / 'features.db'}"
    publish(item_knn, "v1", url)
    port = free_port()
    first = start_serve(tmp_path, url, port)
    tree = [psutil.Process(first.pid), *psutil.Process(first.pid).children(recursive=True)]
    assert len(tree) >= 2  # the arbiter and at least one worker
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert not wait_gone(tree), [p.cmdline() for p in alive(tree)]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    second = start_serve(tmp_path, url, port)  # the same port: nothing holds it
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"user_id": "u0001"})
        assert answer.status_code == 200 and answer.json()["model_version"] == "v1"
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)


@pytest.mark.flows
def test_kill_9_of_train_takes_its_prefect_server_along(tmp_path):
    """As the OOM killer does: SIGKILL of the ``nbrec train`` process alone."""
    data = write_parquet_dataset(generate(users=200, items=80, interactions=4_000, seed=3),
                                 tmp_path / "data")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({"NBREC_VAR_DIR": str(tmp_path / "var"), "PREFECT_HOME": str(tmp_path / "prefect"),
                "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})  # fmt: skip
    train = subprocess.Popen(
        [sys.executable, "-m", "nbrec", "train", "--dataset", str(data), "--notebooks", ""],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        parent = psutil.Process(train.pid)
        deadline = time.monotonic() + 120
        servers: list[psutil.Process] = []
        while not servers and time.monotonic() < deadline and train.poll() is None:
            time.sleep(0.2)
            servers = [p for p in parent.children(recursive=True)
                       if "prefect" in " ".join(p.cmdline()) or "uvicorn" in " ".join(p.cmdline())]  # fmt: skip
        assert servers, "nbrec train started no Prefect server"
        time.sleep(2)  # the server is up and the flow under way
        train.kill()  # SIGKILL, to the process only
        train.wait(timeout=10)
        assert not wait_gone(servers), [p.cmdline() for p in alive(servers)]
    finally:  # whatever outlived the test (an orphan on failure) is still in train's session
        for proc in psutil.process_iter():
            if _in_session(proc, train.pid):
                proc.kill()


def _in_session(proc: psutil.Process, sid: int) -> bool:
    try:
        return os.getsid(proc.pid) == sid
    except (ProcessLookupError, PermissionError):
        return False
