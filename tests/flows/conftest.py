"""One Prefect test harness and one throw-away nbrec home per session.

Everything the pipeline writes (var/, the BentoML model store, the SQLite feature store) goes
under a temporary folder, so the tests never touch the user's store.
"""

from __future__ import annotations

import os

import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.settings import get_settings


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("pipeline")
    env = {
        "NBREC_VAR_DIR": str(home / "var"),
        "NBREC_MODEL_STORE_DIR": str(home / "models"),
        "NBREC_STORE_URL": "",
        "NBREC_TASK_RUNNER": "",
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_harness(pipeline_home):
    """Prefect's own test harness (a temporary API database), started once: it is slow to start."""
    from prefect.settings import get_current_settings
    from prefect.testing.utilities import prefect_test_harness

    # A machine busy with other work can need more than 2 minutes to start the server: the
    # budget is Prefect's own setting when it says more.
    budget = get_current_settings().server.ephemeral.startup_timeout_seconds
    with prefect_test_harness(server_startup_timeout=max(120, int(budget))):
        yield


@pytest.fixture(scope="session")
def tiny_data(pipeline_home):
    """A small synthetic data set as a parquet folder: the flow's ``dataset`` argument."""
    dataset = generate(users=200, items=80, interactions=4_000, seed=11)
    return write_parquet_dataset(dataset, pipeline_home / "data" / "tiny")


@pytest.fixture(scope="session")
def training(prefect_harness):
    from nbrec.flows import training

    return training
