"""Notebooks run by the pipeline: one executed copy (and HTML) per run, results read back."""

from __future__ import annotations

from pathlib import Path

from nbrec.notebooks import read_results, run_notebook
from nbrec.settings import get_settings

# What the flow passes to every notebook (tests check each notebook declares them).
FLOW_PARAMETERS = frozenset({"DATASET", "DATA_DIR", "RESULTS_PATH"})


def run_dir(flow_run: str, params_hash: str) -> Path:
    """``var/runs/<flow run>-<parameter hash>/``: where a run's executed notebooks go."""
    return (get_settings().var_dir / "runs" / f"{flow_run}-{params_hash}").resolve()


def run_notebooks(
    names: list[str], dataset: str, out_dir: Path, extra: dict | None = None
) -> dict[str, dict]:
    """Execute each notebook on ``dataset`` (a snapshot folder) into ``out_dir``; their results."""
    results = {}
    data_dir = str(get_settings().data_dir.resolve())
    for name in names:
        stem = Path(name).stem
        path = out_dir / f"{stem}.json"
        params = {
            "DATASET": dataset,
            "DATA_DIR": data_dir,
            "RESULTS_PATH": str(path),
            **(extra or {}),
        }
        run_notebook(name, params, out_dir)
        results[stem] = read_results(path)
    return results
