"""Deployments carry the agreed cron schedules; the monitoring flow checks what is live."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.flows


def test_deployments_have_cron_schedules(prefect_harness):
    from nbrec.flows import schedules as serve

    found = {d.name: d for d in serve.deployments(train_cron="0 4 * * *")}
    assert found["daily-retraining"].flow_name == "nbrec-training"
    assert [s.schedule.cron for s in found["daily-retraining"].schedules] == ["0 4 * * *"]
    assert [s.schedule.cron for s in found["hourly-monitoring"].schedules] == [serve.MONITOR_CRON]
    assert found["daily-retraining"].parameters == {"dataset": "synthetic"}
    assert found["hourly-report"].flow_name == "performance-report"
    assert [s.schedule.cron for s in found["hourly-report"].schedules] == [serve.MONITOR_CRON]
    assert found["ingest"].flow_name == "ingest"
    assert [s.schedule.cron for s in found["ingest"].schedules] == [serve.INGEST_CRON]


def test_monitoring_flow_validates_the_live_recommendations(prefect_harness):
    from nbrec.flows.monitoring import monitoring
    from nbrec.models import make_model
    from nbrec.pipeline import lifecycle, model_store
    from nbrec.pipeline.status import read_status
    from tests.conftest import checkerboard

    model = make_model("popularity").fit(checkerboard())
    model_store.save_model(model, "vmonitor", {"params": {}})
    lifecycle.promote("vmonitor")  # published from the registry, then made live
    result = monitoring(sample=10)
    assert result["success"] is True
    entry = read_status()["validation"]["recommendations_live"]
    assert entry["success"] is True and entry["failed_expectations"] == []


def test_transient_failures_are_retried_and_bad_data_is_not(prefect_harness):
    from prefect import flow, task

    from nbrec.flows import training

    calls = {"io": 0, "data": 0}

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=training.transient)
    def flaky_io():
        calls["io"] += 1
        if calls["io"] == 1:
            raise ConnectionError("store went away")
        return "ok"

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=training.transient)
    def bad_data():
        calls["data"] += 1
        raise ValueError("negative weights")

    @flow
    def probe():
        first = flaky_io()
        state = bad_data(return_state=True)
        return first, state.is_failed()

    assert probe() == ("ok", True)
    assert calls == {"io": 2, "data": 1}
    assert (
        training.RETRY["retries"] >= 2
        and training.RETRY["retry_condition_fn"] is training.transient
    )


@pytest.mark.slow
def test_local_prefect_server_starts_and_stops(monkeypatch):
    import urllib.request

    from nbrec.pipeline import prefect_server

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with (
        prefect_server.local_server() as url,
        urllib.request.urlopen(f"{url}/health", timeout=5) as response,
    ):
        assert response.status == 200
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/health", timeout=2)
