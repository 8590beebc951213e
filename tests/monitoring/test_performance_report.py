"""The product dashboard notebook: executed with papermill on synthetic RR logs, rendered to HTML."""

from __future__ import annotations

import ast
import json

import nbformat
import papermill
import pytest

from nbrec.monitoring.dashboard import build_dashboard, dashboard_html_path
from nbrec.monitoring.fake_logs import write_fake_logs
from nbrec.notebooks import notebook_path, read_results

NOTEBOOK = notebook_path("performance_report")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    write_fake_logs(folder, users=150, days=9, seed=5)
    return folder


def test_notebook_is_thin_parameterised_and_stripped():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = papermill.inspect_notebook(str(NOTEBOOK))
    assert params and all(name.isupper() for name in params)
    for cell in code:
        assert not cell.outputs and cell.execution_count is None
        tree = ast.parse(cell.source)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert "record_results(" in code[-1].source


@pytest.mark.notebooks
def test_dashboard_renders_figures_without_code(logs, tmp_path):
    board = tmp_path / "leaderboard.json"
    board.write_text(json.dumps([{"model": "popularity", "ndcg@10": 0.05, "coverage": 0.1,
                                  "novelty": 3.0}, {"model": "lightfm", "ndcg@10": 0.12,
                                  "coverage": 0.4, "novelty": 5.0}]))  # fmt: skip
    assert dashboard_html_path(tmp_path / "out") is None
    html = build_dashboard(logs, board, tmp_path / "out")
    assert html == dashboard_html_path(tmp_path / "out")
    text = html.read_text()
    assert text.count("<img") >= 5  # one figure per section, each a PNG
    assert "data:image/png;base64" in text
    assert "from nbrec" not in text and "record_results" not in text  # code cells hidden
    results = read_results(tmp_path / "out" / "run" / "results.json")
    assert results["groups"] == 2
    assert results["model_versions"] == ["lightfm-v2", "popularity-v1"]
    by_version = {row["model_version"]: row for row in results["summary"]}
    assert by_version["lightfm-v2"]["ctr"] > by_version["popularity-v1"]["ctr"]


def test_dashboard_on_missing_logs_fails_with_the_reason(tmp_path):
    with pytest.raises(FileNotFoundError, match="no RR logs"):
        build_dashboard(tmp_path / "nothing-here", None, tmp_path / "out")
    assert dashboard_html_path(tmp_path / "out") is None  # nothing half-built is published


@pytest.mark.slow  # Prefect's test harness alone takes ~30 s to start on a loaded 2-core box
@pytest.mark.flows
def test_scheduled_flow_rebuilds_the_dashboard(logs, tmp_path):
    from prefect.testing.utilities import prefect_test_harness

    from nbrec.flows import report as module

    flow = module.performance_report
    deployment = flow.to_deployment(name="performance-report", cron=module.HOURLY)
    assert [s.schedule.cron for s in deployment.schedules] == ["0 * * * *"]
    with prefect_test_harness(server_startup_timeout=120):
        html = flow(log_dir=str(logs), out_dir=str(tmp_path / "out"))
    assert html.endswith("performance_report.html")
    assert dashboard_html_path(tmp_path / "out").read_text().count("<img") >= 5
