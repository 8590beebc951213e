"""The pipeline's parts without Prefect: gate, version ids, snapshot, status file, registry, shards."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbrec.data import write_parquet_dataset
from nbrec.models import make_model
from nbrec.pipeline import gate, model_store, scoring, snapshot, status, versions
from tests.conftest import checkerboard


def test_gate_rules():
    assert gate.decide(0.30, 0.25, None, margin=0.01, tolerance=0.01).passed
    low = gate.decide(0.255, 0.25, None, margin=0.01, tolerance=0.01)
    assert not low.passed and "popularity" in low.reason and "0.0100" in low.reason
    worse = gate.decide(0.30, 0.20, 0.35, margin=0.01, tolerance=0.01)
    assert not worse.passed and "live model" in worse.reason
    assert gate.decide(0.30, 0.20, 0.305, margin=0.01, tolerance=0.01).passed  # within tolerance


def test_version_id_depends_on_data_params_and_code():
    base = versions.version_id("abc", {"model": "ease"}, code="c1")
    assert base == versions.version_id("abc", {"model": "ease"}, code="c1")
    assert base.startswith("v") and len(base) == 13
    others = {versions.version_id("abd", {"model": "ease"}, code="c1"),
              versions.version_id("abc", {"model": "item_knn"}, code="c1"),
              versions.version_id("abc", {"model": "ease"}, code="c2")}  # fmt: skip
    assert base not in others and len(others) == 3
    assert versions.code_version()


def test_snapshot_is_content_addressed(tmp_path, tiny_synthetic):
    folder = write_parquet_dataset(tiny_synthetic, tmp_path / "data")
    first = snapshot.take_snapshot(str(folder), out_dir=tmp_path / "snaps")
    again = snapshot.take_snapshot(str(folder), out_dir=tmp_path / "snaps")
    assert first.data_hash == again.data_hash and first.path == again.path
    assert json.loads((first.path / "snapshot.json").read_text())["rows"]["interactions"] == len(
        tiny_synthetic.interactions
    )
    changed = tiny_synthetic.interactions.copy()
    changed.loc[0, "weight"] += 1
    assert snapshot.content_hash({"interactions": changed}) != snapshot.content_hash(
        {"interactions": tiny_synthetic.interactions}
    )


def test_status_file_counts_runs_atomically(tmp_path):
    path = tmp_path / "status" / "pipeline.json"
    started = status.now_iso()
    status.record_run("run-1", "completed", started, version="v1", path=path)
    status.record_run("run-2", "rejected", started, reason="gate", path=path)
    status.record_validation({"interactions": {"success": True, "failed_expectations": [],
                                               "report": "r.json", "at": started}}, path=path)  # fmt: skip
    saved = json.loads(path.read_text())
    assert saved["runs"] == {"completed": 1, "rejected": 1, "failed": 0}
    assert saved["last_run"]["flow_run"] == "run-2" and saved["last_run"]["version"] is None
    assert saved["last_success_at"] is not None and saved["validation"]["interactions"]["success"]
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind
    with pytest.raises(ValueError, match="run status"):
        status.record_run("run-3", "exploded", started, path=path)


def _record_runs(path: str, barrier, runs: int) -> None:
    barrier.wait()  # every writer starts together, so their updates interleave
    for i in range(runs):
        status.record_run(f"run-{i}", "completed", status.now_iso(), path=Path(path))


def test_status_updates_from_concurrent_processes_are_not_lost(tmp_path):
    # The hourly monitoring and the daily training write the file from separate processes.
    context = multiprocessing.get_context("spawn")
    path, barrier = tmp_path / "status" / "pipeline.json", context.Barrier(4)
    writers = [
        context.Process(target=_record_runs, args=(str(path), barrier, 100)) for _ in range(4)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [w.exitcode for w in writers] == [0, 0, 0, 0]
    assert json.loads(path.read_text())["runs"]["completed"] == 400
    assert list(path.parent.iterdir()) == [path]


def test_registry_refuses_tampered_artifacts(pipeline_home):
    model = make_model("popularity").fit(checkerboard())
    entry, created = model_store.save_model(model, "vtamper", {"params": {}, "note": None})
    assert created and model_store.load_model("vtamper").item_ids_.equals(model.item_ids_)
    assert model_store.save_model(model, "vtamper", {})[1] is False
    (entry.path / "model" / "state.npz").write_bytes(b"not the model")
    with pytest.raises(model_store.ChecksumError, match="state.npz"):
        model_store.load_model("vtamper")
    with pytest.raises(KeyError, match="vtamper"):
        model_store.get_model_version("vnothere")


def test_shards_cover_every_user_once():
    parts = scoring.shards(np.arange(10), 4)
    assert [len(p) for p in parts] == [4, 4, 2]
    assert np.array_equal(np.concatenate(parts), np.arange(10))
    with pytest.raises(ValueError):
        scoring.shards(np.arange(3), 0)


def test_task_runner_choice():
    from prefect.task_runners import ThreadPoolTaskRunner

    assert isinstance(scoring.make_task_runner(""), ThreadPoolTaskRunner)
    with pytest.raises(ValueError, match="NBREC_TASK_RUNNER"):
        scoring.make_task_runner("spark")


def test_every_notebook_takes_the_parameters_the_flow_passes():
    from nbrec.notebooks import list_notebooks, notebook_parameters
    from nbrec.pipeline.notebook_runs import FLOW_PARAMETERS

    assert list_notebooks()
    for path in list_notebooks():
        missing = FLOW_PARAMETERS - set(notebook_parameters(path))
        assert not missing, f"{path.name} lacks parameters {missing} that the training flow passes"


def test_a_csv_file_is_snapshotted_raw_so_validation_sees_null_ids(tmp_path, tiny_synthetic):
    from nbrec.validation import interactions_frame, interactions_parameters, validate

    frame = tiny_synthetic.interactions.copy()
    epoch = pd.Timestamp(0, tz="UTC")
    frame["timestamp"] = (frame["timestamp"] - epoch) // pd.Timedelta(
        "1s"
    )  # unix seconds, as in CSVs
    frame.loc[frame.index[:2], "user_id"] = None
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    snap = snapshot.take_snapshot(str(path), out_dir=tmp_path / "snaps")
    assert snap.interactions["user_id"].isna().sum() == 2
    report = validate(interactions_frame(snap.interactions), "interactions", interactions_parameters(),
                      out_dir=tmp_path / "v")  # fmt: skip
    assert report.failed == ["user_id not null"]
