"""The deployments of prefect.yaml on a process work pool: a real Prefect server, ``prefect
deploy``, a real worker; a triggered run completes. And every schedule honours
NBREC_TASK_RUNNER."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from nbrec.lifetime import wait_ready
from nbrec.pipeline.prefect_server import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.flows
PREFECT = [sys.executable, "-m", "prefect"]
POOL = "nbrec-test"


def test_prefect_yaml_deploys_every_flow_on_the_pool():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    found = {d["name"]: d for d in spec["deployments"]}
    assert set(found) == {"daily-retraining", "hourly-monitoring", "hourly-report", "ingest"}
    for deployment in found.values():
        # The entry points are thin files importing the flows of nbrec.flows: load them as
        # Prefect's worker does.
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        assert flow.name in {"nbrec-training", "nbrec-monitoring", "performance-report", "ingest"}
        assert deployment["work_pool"]["name"] == "nbrec"


def test_schedules_honour_the_task_runner_setting():
    """The training flow's own task runner is the one NBREC_TASK_RUNNER names, so a scheduled
    run (nbrec.flows.schedules, a work-pool worker) uses it, not only `nbrec train`."""
    code = (
        "from nbrec.flows import schedules, training\n"
        "assert 'daily-retraining' in {d.name for d in schedules.deployments()}\n"
        "print(type(training.training.task_runner).__name__)\n"
    )
    env = {**os.environ, "NBREC_TASK_RUNNER": "dask"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)  # fmt: skip
    assert out.stdout.strip() == "DaskTaskRunner", out.stderr[-2000:]


def _prefect(*args: str, env: dict, timeout: float = 180) -> str:
    done = subprocess.run([*PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, (
        f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.mark.slow  # a Prefect server, a deploy and a worker: a minute or more (make test-all)
def test_a_deployment_runs_on_a_process_work_pool(tmp_path):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "NBREC_VAR_DIR": str(tmp_path / "var"), "NBREC_STORE_URL": "",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": os.pathsep.join(
               [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    env.pop("PREFECT_API_KEY", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    server = _start([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                    {**env, "PREFECT_API_URL": ""}, logs / "server.log")  # fmt: skip
    worker = None
    try:
        wait_ready(f"{api}/health", "prefect server", 180, server, logs / "server.log")
        _prefect("work-pool", "create", POOL, "--type", "process", env=env)
        _prefect("--no-prompt", "deploy", "--name", "ingest", "--pool", POOL, env=env)
        worker = _start([*PREFECT, "worker", "start", "--pool", POOL, "--limit", "1"], env,
                        logs / "worker.log")  # fmt: skip
        out = _prefect("deployment", "run", "ingest/ingest", env=env)
        run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
        state = _wait_for_final_state(run_id, env, timeout=300)
        assert state == "COMPLETED", (state, (logs / "worker.log").read_text()[-3000:])
    finally:
        for proc in (worker, server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=30)


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _wait_for_final_state(run_id: str, env: dict, timeout: float) -> str:
    code = (
        "import asyncio, sys\n"
        "from prefect.client.orchestration import get_client\n"
        "async def main():\n"
        "    async with get_client() as client:\n"
        "        run = await client.read_flow_run(sys.argv[1])\n"
        "        print(run.state.type.value)\n"
        "asyncio.run(main())\n"
    )
    deadline = time.monotonic() + timeout
    while True:
        state = subprocess.run([sys.executable, "-c", code, run_id], env=env, capture_output=True,
                               text=True, timeout=60).stdout.strip()  # fmt: skip
        if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} or time.monotonic() > deadline:
            return state
        time.sleep(2)
