"""Real servers for the ops tests: the nbrec service (as `nbrec serve` starts it) and Prometheus.

Both start on free loopback ports in temporary folders and are stopped afterwards. A missing
binary skips locally with an install hint and fails in CI (``require_binary``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from nbrec.lifetime import wait_ready
from tests.conftest import ROOT
from tests.serving.server import free_port
from tests.store.redis_server import require_binary

PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group the server runs in (BentoML forks workers), then wait."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def server(command: list[str], ready_path: str, port: int, log: Path, timeout: float,
           **popen) -> Iterator[str]:  # fmt: skip
    """Run ``command`` (its own process group, output to ``log``) until ``ready_path`` answers."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}{ready_path}", Path(command[0]).name, timeout, proc, log)
        yield url
    finally:
        stop(proc)


@contextmanager
def nbrec_service(home: Path, env: dict[str, str]) -> Iterator[str]:
    """``nbrec serve`` on a free port with ``env`` (NBREC_* settings); yield its base URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "nbrec"), "serve", "--port", str(port)]
    with server(command, "/readyz", port, home / "service.log", 120, cwd=home,
                env={**os.environ, **env}) as url:  # fmt: skip
        yield url


def prometheus_config(target: str, out: Path, interval: str = "1s") -> Path:
    """deploy/prometheus/prometheus.yml aimed at ``target``, with fast scrapes and rule evaluation.

    Everything else (rule files, job names, metrics path) is the deployed config's own.
    """
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(PROMETHEUS_CONFIG.parent / path) for path in config["rule_files"]]
    config.pop("alerting", None)  # no Alertmanager in this test
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "nbrec"]
    jobs[0]["static_configs"][0]["targets"] = [target]
    config["scrape_configs"] = jobs
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


@contextmanager
def prometheus(config: Path, workdir: Path) -> Iterator[str]:
    """A Prometheus server on a free loopback port with storage in ``workdir``; yield its URL."""
    binary = require_binary("prometheus", "prometheus")
    port = free_port()
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with server(command, "/-/ready", port, workdir / "prometheus.log", 60) as url:
        yield url
