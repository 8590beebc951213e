"""One Prefect test harness and one throw-away nbrec home for the package's tests.

Everything the pipeline writes (var/, the BentoML model store, the SQLite feature store) goes
under a temporary folder, so the tests never touch the user's store.
"""

from __future__ import annotations

import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.settings import get_settings


@pytest.fixture(scope="package")
def pipeline_home(tmp_path_factory):
    """The ``NBREC_*``/``BENTOML_*`` variables hold for this package's tests only: they are
    restored when its last test is done, so they never leak into later packages (the browser
    tests' service, say)."""
    home = tmp_path_factory.mktemp("pipeline")
    env = {
        "NBREC_VAR_DIR": str(home / "var"),
        "NBREC_MODEL_STORE_DIR": str(home / "models"),
        "NBREC_STORE_URL": "",
        "NBREC_TASK_RUNNER": "",
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        yield home
    get_settings.cache_clear()


@pytest.fixture(scope="package")
def prefect_harness(pipeline_home):
    """Prefect's own test harness (a temporary API database), started once: it is slow to start."""
    from prefect.settings import get_current_settings
    from prefect.testing.utilities import prefect_test_harness

    # A machine busy with other work can need more than 2 minutes to start the server: the
    # budget is Prefect's own setting when it says more.
    budget = get_current_settings().server.ephemeral.startup_timeout_seconds
    with prefect_test_harness(server_startup_timeout=max(120, int(budget))):
        yield


@pytest.fixture(scope="package")
def tiny_data(pipeline_home):
    """A small synthetic data set as a parquet folder: the flow's ``dataset`` argument."""
    dataset = generate(users=200, items=80, interactions=4_000, seed=11)
    return write_parquet_dataset(dataset, pipeline_home / "data" / "tiny")


@pytest.fixture(scope="package")
def training(prefect_harness):
    from nbrec.flows import training

    return training
