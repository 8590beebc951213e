"""Each run tells its story in the Prefect UI: artifacts read back from the Prefect API."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.flows


def artifacts_of(flow_run_id) -> dict[str, object]:
    """``{key: artifact}`` of one flow run, from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}


def run(flow, **params):
    state = flow(**params, return_state=True)
    return state.result(raise_on_failure=False), state.state_details.flow_run_id


def test_training_run_publishes_its_decisions(training, tiny_data):
    result, run_id = run(training.training, dataset=str(tiny_data), model="item_knn", notebooks=[])
    assert result["status"] == "completed", result
    found = artifacts_of(run_id)
    board = found["nbrec-leaderboard"]
    assert board.type == "table" and "item_knn" in board.data and "popularity" in board.data
    gate = found["nbrec-gate-decision"]
    assert gate.type == "markdown" and "PASS" in gate.data and "popularity" in gate.data
    checked = found["nbrec-validation"]
    assert checked.type == "table"
    for suite in ("interactions", "recommendations_candidate", "recommendations_published"):
        assert suite in checked.data, checked.data
    live = found["nbrec-published-version"]
    assert live.type == "markdown" and result["version"] in live.data
    assert "Data Docs" in found["nbrec-data-docs"].data  # a link artifact (markdown in the API)


def test_rejected_run_says_why(training, tiny_data):
    result, run_id = run(training.training, dataset=str(tiny_data), model="random", notebooks=[])
    assert result["status"] == "rejected", result
    found = artifacts_of(run_id)
    assert "REJECTED" in found["nbrec-gate-decision"].data
    assert "does not beat popularity" in found["nbrec-gate-decision"].data
    assert "nbrec-published-version" not in found


def test_monitoring_run_publishes_the_live_check(training, tiny_data):
    from nbrec.flows.monitoring import monitoring

    result, run_id = run(monitoring, sample=50)
    check = artifacts_of(run_id)["nbrec-live-check"]
    assert check.type == "markdown"
    assert ("passed" in check.data) if result.get("success") else ("no live" in check.data)


@pytest.mark.slow  # executes the report notebook (about a minute on 2 busy cores)
@pytest.mark.notebooks
def test_report_run_links_the_report(training, pipeline_home):
    from nbrec.flows.report import performance_report as report
    from nbrec.monitoring.fake_logs import write_fake_logs

    logs = pipeline_home / "report-logs"
    write_fake_logs(logs, users=60, days=3, seed=2)
    html, run_id = run(report, log_dir=str(logs), out_dir=str(pipeline_home / "reports"))
    found = artifacts_of(run_id)
    assert "performance report" in found["nbrec-performance-report"].data
    assert found["nbrec-performance-report-summary"].type == "table"
