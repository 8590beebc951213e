"""`make observe` (deploy/observe.sh) starts Prometheus wired to Alertmanager, and stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT
from tests.monitoring.servers import free_port
from tests.store.redis_server import require_binary


def test_observe_starts_prometheus_and_alertmanager_and_stops_them(tmp_path):
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    prom_port, am_port, service_port = free_port(), free_port(), free_port()
    env = {**os.environ, "SERVICE": f"127.0.0.1:{service_port}", "PROM_PORT": str(prom_port),
           "AM_PORT": str(am_port), "PY": sys.executable, "OBSERVE_DIR": str(tmp_path)}  # fmt: skip
    proc = subprocess.Popen([str(ROOT / "deploy" / "observe.sh")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        prom = f"http://127.0.0.1:{prom_port}"
        deadline = time.monotonic() + 60
        managers = []
        while time.monotonic() < deadline and not managers:
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                answer = httpx.get(f"{prom}/api/v1/alertmanagers", timeout=2).json()
                managers = answer["data"]["activeAlertmanagers"]
            except (httpx.HTTPError, ValueError):  # not up yet: refused, or a plain-text 503
                continue
        assert [m["url"] for m in managers] == [f"http://localhost:{am_port}/api/v2/alerts"]
        assert httpx.get(f"http://127.0.0.1:{am_port}/-/ready", timeout=2).status_code == 200
        targets = httpx.get(f"{prom}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        assert [t["scrapeUrl"] for t in targets if t["labels"]["job"] == "nbrec"] == [
            f"http://127.0.0.1:{service_port}/metrics"
        ]
        groups = httpx.get(f"{prom}/api/v1/rules", timeout=2).json()["data"]["groups"]
        assert sum(len(g["rules"]) for g in groups) >= 30
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    for port in (prom_port, am_port):  # both servers are gone
        try:
            httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1)
            raise AssertionError(f"port {port} still answers after observe stopped")
        except httpx.ConnectError:
            pass
    rendered = tmp_path / "alertmanager.yml"
    assert oct(rendered.stat().st_mode & 0o777) == "0o600"
