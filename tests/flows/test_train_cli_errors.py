"""Broken CSV files through the real ``nbrec train``: refused with one clear message, no Prefect
traceback, and the live model stays live."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.settings import get_settings
from nbrec.store import open_store

pytestmark = pytest.mark.flows


@pytest.fixture(scope="module")
def home(tmp_path_factory, prefect_harness):
    """A throw-away nbrec home; every ``nbrec train`` of the module talks to the session's Prefect
    server (the test harness's), so none starts a server of its own."""
    from prefect.settings import PREFECT_API_URL

    home = tmp_path_factory.mktemp("train-cli")
    env = {
        "NBREC_VAR_DIR": str(home / "var"), "NBREC_MODEL_STORE_DIR": str(home / "models"),
        "NBREC_STORE_URL": "", "NBREC_TASK_RUNNER": "", "NBREC_TRAIN_NOTEBOOKS": "",
        "BENTOML_HOME": str(home / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
        "PREFECT_HOME": str(home / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "400",
    }  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        yield home
    get_settings.cache_clear()


def train(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nbrec", "train", "--notebooks", "", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    done.message = " ".join(done.stderr.split())
    return done


@pytest.fixture(scope="module")
def live(home):
    """A version trained from good data and live before any broken file is tried."""
    good = write_parquet_dataset(generate(users=200, items=80, interactions=4_000, seed=3),
                                 home / "data" / "good")  # fmt: skip
    done = train("--dataset", str(good), "--model", "popularity", "--margin", "0")
    assert done.returncode == 0, done.stderr
    version = open_store().live_version()
    assert version
    return version


def assert_refused(done, code: int, *phrases: str) -> None:
    assert done.returncode == code, done.stderr
    for phrase in phrases:
        assert phrase in done.message, done.stderr
    assert "Traceback" not in done.stderr


def test_a_repeated_header_is_refused_and_nothing_goes_live(home, live):
    rows = [f"u{u},i{(u + j) % 40},{1_600_000_000 + u * 100 + j},1,u{u}" for u in range(50)
            for j in range(8)]  # fmt: skip
    path = home / "dup.csv"
    path.write_text("\n".join(["user_id,item_id,timestamp,weight,user_id", *rows]) + "\n")
    done = train("--dataset", str(path))
    assert_refused(done, 2, "dup.csv", "'user_id' appears 2 times in the header")
    assert open_store().live_version() == live


def test_an_empty_file_is_named(home, live):
    (home / "empty.csv").write_text("")
    assert_refused(train("--dataset", str(home / "empty.csv")), 2, "empty.csv: the file is empty")
    assert open_store().live_version() == live


def test_failed_validation_prints_the_message_without_tracebacks(home, live):
    (home / "one.csv").write_text("user_id,item_id\nu1,i1\n")
    done = train("--dataset", str(home / "one.csv"))
    assert_refused(done, 4, "validation failed: suite 'interactions' failed", "at least 200 events")
    assert open_store().live_version() == live
