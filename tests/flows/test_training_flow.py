"""The training flow end to end under Prefect's test harness, on tiny data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.schema import Dataset
from nbrec.data.synthetic import generate
from nbrec.pipeline import lifecycle, model_store
from nbrec.pipeline.status import read_status
from nbrec.store import open_store
from nbrec.validation import ValidationFailed

pytestmark = pytest.mark.flows


@pytest.fixture(scope="module")
def tiny_data(pipeline_home):
    """This module's own tiny data. A version is named by its data and parameters, so another
    module's item-kNN run on the session's data (without notebooks) would be this first run."""
    dataset = generate(users=200, items=80, interactions=4_000, seed=12)
    return write_parquet_dataset(dataset, pipeline_home / "data" / "tiny-training-flow")


@pytest.fixture(scope="module")
def first_run(training, tiny_data):
    """The first run: item-kNN on the tiny data, executing the default notebooks (NBREC_TRAIN_NOTEBOOKS)."""
    return training.run_training(dataset=str(tiny_data), model="item_knn")  # default notebooks


def test_run_registers_publishes_and_goes_live(first_run, pipeline_home):
    assert first_run["status"] == "completed", first_run
    version = first_run["version"]
    assert open_store().live_version() == version
    entry = model_store.get_model_version(version)
    assert entry.model == "item_knn"
    assert entry.metadata["data_hash"] and entry.metadata["code_version"]
    assert entry.metrics["candidate"] > entry.metrics["popularity"]
    assert set(entry.metadata["manifest"]) == {"model.json", "state.npz"}
    model = model_store.load_model(version)  # checksums verified
    assert len(model.recommend(model.user_ids_[:3], 5)) == 15
    table = lifecycle.models_table()
    assert table.loc[table.version == version, "live"].item()
    status = read_status()
    assert status["last_run"]["status"] == "completed" and status["last_run"]["version"] == version
    assert status["last_success_at"] and status["runs"]["completed"] >= 1
    assert status["validation"]["interactions"]["success"] is True
    # the notebook ran on the snapshot: an executed copy and its HTML, per run
    for name in ("01_framing", "02_baselines"):
        executed = list((pipeline_home / "var" / "runs").glob(f"*/{name}.ipynb"))
        assert executed and executed[0].with_suffix(".html").is_file()
        assert name in entry.metadata["notebooks"]


def test_rerun_is_idempotent(first_run, training, tiny_data):
    again = training.run_training(dataset=str(tiny_data), model="item_knn", notebooks=[])
    assert again["status"] == "completed"
    assert again["version"] == first_run["version"]
    assert again["registered"] is False
    assert [v.version for v in model_store.list_model_versions()].count(first_run["version"]) == 1


def _corrupt(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    frame = frame.copy()
    if how == "null user ids":
        frame.loc[frame.index[:5], "user_id"] = None
    elif how == "negative weights":
        frame.loc[frame.index[:5], "weight"] = -1.0
    elif how == "timestamps in the future":
        frame.loc[frame.index[:5], "timestamp"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=30)
    elif how == "missing column":
        frame = frame.drop(columns="weight")
    return frame


CORRUPTIONS = {
    "null user ids": "user_id not null",
    "negative weights": "weights non-negative and bounded",
    "timestamps in the future": "timestamps not in the future",
    "missing column": "weight column present",
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_corrupt_data_stops_at_validation(how, first_run, training, tiny_data, pipeline_home):
    clean = pd.read_parquet(tiny_data / "interactions.parquet")
    folder = write_parquet_dataset(
        Dataset(how, _corrupt(clean, how)), pipeline_home / "data" / how.replace(" ", "_")
    )
    live_before = open_store().live_version()
    with pytest.raises(ValidationFailed) as caught:
        training.run_training(dataset=str(folder), model="item_knn")
    report = caught.value.report
    assert CORRUPTIONS[how] in report.failed
    assert CORRUPTIONS[how] in str(caught.value) and str(report.report_path) in str(caught.value)
    assert report.report_path.is_file() and report.docs_path.is_file()
    saved = json.loads(report.report_path.read_text())
    assert saved["success"] is False
    assert open_store().live_version() == live_before
    status = read_status()
    assert status["last_run"]["status"] == "failed"
    assert CORRUPTIONS[how] in status["validation"]["interactions"]["failed_expectations"]


def test_random_model_is_rejected_by_the_gate(first_run, training, tiny_data):
    live_before = open_store().live_version()
    versions_before = [v.version for v in model_store.list_model_versions()]
    result = training.run_training(dataset=str(tiny_data), model="random", notebooks=[])
    assert result["status"] == "rejected"
    assert "popularity" in result["reason"]
    assert open_store().live_version() == live_before
    assert [v.version for v in model_store.list_model_versions()] == versions_before
    assert read_status()["last_run"]["status"] == "rejected"


def test_rollback_returns_the_previous_version(first_run, training, tiny_data):
    previous = open_store().live_version()
    # EASE, let through whatever its score: a second, different live version
    result = training.run_training(
        dataset=str(tiny_data), model="ease", margin=-1.0, tolerance=1.0, notebooks=[]
    )
    assert result["status"] == "completed" and result["version"] != previous
    assert open_store().live_version() == result["version"]
    assert lifecycle.rollback() == previous
    assert open_store().live_version() == previous
    assert lifecycle.promote(result["version"]) == result["version"]
    assert open_store().live_version() == result["version"]


def test_cli_train_and_models(first_run, training, tiny_data, pipeline_home):
    from typer.testing import CliRunner

    from nbrec.cli import app

    runner = CliRunner()
    clean = pd.read_parquet(tiny_data / "interactions.parquet")
    folder = write_parquet_dataset(
        Dataset("bad", _corrupt(clean, "negative weights")), pipeline_home / "data" / "cli_bad"
    )
    result = runner.invoke(app, ["train", "--dataset", str(folder), "--model", "item_knn"])
    assert result.exit_code == 4, result.output
    assert "weights non-negative and bounded" in result.output
    rejected = runner.invoke(
        app, ["train", "--dataset", str(tiny_data), "--model", "random", "--notebooks", ""]
    )
    assert rejected.exit_code == 3, rejected.output
    listed = runner.invoke(app, ["models", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert sum(row["live"] for row in rows) == 1 and first_run["version"] in {
        r["version"] for r in rows
    }
    unknown = runner.invoke(app, ["models", "promote", "vnope"])
    assert unknown.exit_code == 2 and "vnope" in unknown.output


def test_promote_from_the_registry_publishes_the_item_metadata(first_run):
    # A version the feature store no longer holds (cleanup keeps a few) is published again from
    # the registry on promote; its items' metadata comes from the run's snapshot.
    store, entry = open_store(), model_store.get_model_version(first_run["version"])
    live = store.live_version()
    model_store.save_model(model_store.load_model(entry.version), "vrepublish", entry.metadata)
    assert "vrepublish" not in store.list_versions()
    assert lifecycle.promote("vrepublish") == "vrepublish"
    meta = store.item_meta("vrepublish")
    assert meta and meta == store.item_meta(entry.version)
    lifecycle.promote(live)


def test_batch_scoring_on_a_dask_cluster_ships_the_model_once(
    first_run, training, tiny_data, monkeypatch
):
    """NBREC_TASK_RUNNER names a Dask cluster (a LocalCluster of two worker processes here):
    the training flow runs its tasks there, and the fitted model is never pickled by the flow
    for its shards (each worker fetches the model's future once, not one copy per shard)."""
    from distributed import Client, LocalCluster

    from nbrec.models.item2item import ItemKNN
    from nbrec.settings import get_settings

    pickled = []
    reduce_ex = ItemKNN.__reduce_ex__

    def counting(self, protocol):
        pickled.append(protocol)
        return reduce_ex(self, protocol)

    monkeypatch.setattr(ItemKNN, "__reduce_ex__", counting)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        monkeypatch.setenv("NBREC_TASK_RUNNER", cluster.scheduler_address)
        get_settings.cache_clear()
        try:
            result = training.run_training(
                dataset=str(tiny_data), model="item_knn", shard_size=40, notebooks=[]
            )
        finally:
            monkeypatch.delenv("NBREC_TASK_RUNNER")
            get_settings.cache_clear()
        ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
    # same data and recipe as the first run: same version, scored over 5 shards on Dask workers
    assert result["status"] == "completed" and result["version"] == first_run["version"]
    assert sum(ran.values()) >= 5 + 1, ran  # the shards and the fit ran on the cluster
    assert pickled == [], f"the flow pickled the model {len(pickled)} times"
