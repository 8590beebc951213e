"""What a user sees from the `nbrec` command, run as a real process with a clean environment.

A successful run prints no ERROR or WARNING line that is not the user's business (Prefect's
telemetry, the kernel's "TCP without encryption", GX's temporary folders); long verbs show
progress; `nbrec status` tells what is live, the last runs and the store's health.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate

NOISE = re.compile(
    r"\bERROR\b|\bWARNING\b|Warning:|without encryption|temporary directory|telemetry|Traceback"
)


def nbrec_command() -> list[str]:
    found = shutil.which("nbrec", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "nbrec"]


@pytest.fixture()
def clean_env(tmp_path) -> dict:
    """A fresh nbrec home and Prefect home; nothing that would quiet the libraries for us."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NBREC_", "PREFECT_", "BENTOML_")) and k != "DO_NOT_TRACK"
    }
    env.update(
        NBREC_VAR_DIR=str(tmp_path / "var"),
        NBREC_DATA_DIR=str(tmp_path / "data"),
        NBREC_MODEL_STORE_DIR=str(tmp_path / "models"),
        BENTOML_HOME=str(tmp_path / "bentoml"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        COLUMNS="100",
    )
    return env


def run(args: list[str], env: dict, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        nbrec_command() + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if NOISE.search(line)]


def test_version(clean_env, tmp_path):
    done = run(["--version"], clean_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"nbrec {version('nbrec')}"


def test_generate_publish_status(clean_env, tmp_path):
    folder = tmp_path / "data" / "small"
    generated = run(
        ["data", "generate", "--users", "60", "--items", "30", "--interactions", "900",
         "--out", str(folder)], clean_env, tmp_path,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    assert "generate 900 interactions" in generated.stderr and "done" in generated.stderr
    assert (folder / "interactions.parquet").is_file()
    published = run(
        ["publish", "--dataset", str(folder), "--model", "popularity", "--version", "pop-v1"],
        clean_env, tmp_path,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert "publish pop-v1" in published.stderr and "3/3" in published.stderr
    assert not noise(published.stderr), published.stderr
    # Nothing listens on this port: the service is reported as not running, not as an error.
    status = run(["status", "--format", "json", "--url", "http://127.0.0.1:9"], clean_env, tmp_path)
    assert status.returncode == 0, status.stderr
    found = json.loads(status.stdout)
    assert found["store"]["reachable"] is True and found["store"]["live"] == "pop-v1"
    assert found["service"]["up"] is False
    assert found["pipeline"]["last_run"] is None
    text = run(["status", "--url", "http://127.0.0.1:9"], clean_env, tmp_path)
    assert text.returncode == 0, text.stderr
    for expected in ("what is live", "pop-v1", "popularity", "not running", "no pipeline run yet"):
        assert expected in text.stdout, text.stdout


@pytest.mark.notebooks
def test_notebooks_run_prints_no_noise(clean_env, tmp_path):
    """The kernel's "TCP without encryption" and nbconvert's alt-text warnings stay out."""
    folder = write_parquet_dataset(
        generate(users=120, items=50, interactions=2_000, seed=5), tmp_path / "data" / "tiny"
    )
    out = tmp_path / "notebooks"
    done = run(
        ["notebooks", "run", "03_metrics", "--dataset", str(folder), "--out", str(out)],
        clean_env, tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert not noise(done.stderr), "\n".join(noise(done.stderr))
    assert "notebook 1/1" in done.stderr and "Executing" in done.stderr  # papermill's cell bar
    assert (out / "03_metrics.html").is_file()


@pytest.mark.slow  # 2-3 minutes on a shared 2-core machine; `make test-all` runs it
@pytest.mark.flows
@pytest.mark.notebooks
def test_train_prints_no_noise(clean_env, tmp_path):
    """`nbrec train` with a notebook: progress on stderr, and no ERROR/WARNING lines."""
    folder = write_parquet_dataset(
        generate(users=200, items=80, interactions=4_000, seed=11), tmp_path / "data" / "tiny"
    )
    done = run(
        ["train", "--dataset", str(folder), "--model", "item_knn", "--notebooks", "01_framing"],
        clean_env, tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert not noise(done.stderr), "\n".join(noise(done.stderr))
    assert "tasks, last go_live" in done.stderr, done.stderr  # the progress line
    assert re.search(r"train stages \(s\): take_snapshot [0-9.]+, validate_inputs", done.stderr)
    live = re.search(r"live: (\S+) \(item_knn\)", done.stderr)
    assert live, done.stderr
    status = json.loads(
        run(
            ["status", "--format", "json", "--url", "http://127.0.0.1:9"], clean_env, tmp_path
        ).stdout
    )
    assert status["store"]["live"] == live.group(1)
    assert status["pipeline"]["history"][-1]["status"] == "completed"
    assert status["pipeline"]["history"][-1]["version"] == live.group(1)
