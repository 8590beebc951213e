"""Every notebook: stripped of outputs, free of definitions, one parameters cell, and it runs.

Execution uses papermill on a tiny synthetic data set, as the flows do (Recommenders' unit tier).
"""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.notebooks import NOTEBOOK_DIR, check_parameters, notebook_parameters, run_notebook

ALL_NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
NUMBERED = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
STANDARD_PARAMETERS = {"DATASET", "DATA_DIR", "RESULTS_PATH"}
# Smaller budgets on the tiny data: every cell still runs (simulation, tuning, early stopping)
# on fewer events, users, trials and epochs (docs/testing.md has the before and after).
SMALLER = {
    "04_bandits.ipynb": {"N_EVENTS": 15_000},
    "05_lightfm.ipynb": {"MAX_TRIALS": 2, "MAX_EPOCHS": 20},
    "06_leaderboard.ipynb": {"MAX_TRIALS": 2},
}


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert {p.name for p in NUMBERED} >= {
        "01_framing.ipynb",
        "02_baselines.ipynb",
        "03_metrics.ipynb",
    }


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in code_cells(path):
        assert cell.outputs == [], f"{path.name}: strip outputs before committing"
        assert cell.execution_count is None, f"{path.name}: strip execution counts"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_no_functions_or_classes(path):
    for cell in code_cells(path):
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(source)):
            assert not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef), (
                f"{path.name} defines {node.name!r}: move it into src/nbrec/ and import it"
            )


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_upper_case(path):
    tagged = [c for c in code_cells(path) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    names = set(notebook_parameters(path))
    assert names and all(n.isupper() for n in names), (
        f"{path.name}: parameters must be UPPER_CASE: {names}"
    )


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_takes_the_standard_parameters(path):
    check_parameters(path, dict.fromkeys(STANDARD_PARAMETERS, ""))


def test_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="NOT_A_PARAMETER"):
        check_parameters(NUMBERED[0], {"NOT_A_PARAMETER": 1})


@pytest.fixture(scope="module")
def tiny_dataset_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "synthetic"
    write_parquet_dataset(generate(users=300, items=120, interactions=6_000, seed=7), folder)
    return folder


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_notebook_runs_and_records_results(path, tiny_dataset_dir, tmp_path):
    results = tmp_path / "results.json"
    params = {
        "DATASET": str(tiny_dataset_dir),
        "DATA_DIR": str(tmp_path),
        "RESULTS_PATH": str(results),
        **SMALLER.get(path.name, {}),
    }
    executed = run_notebook(path, params, tmp_path / "out")
    assert executed.is_file() and executed.with_suffix(".html").is_file()
    recorded = json.loads(results.read_text())
    assert recorded, f"{path.name} recorded no results"
