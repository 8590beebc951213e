"""The built bento runs with nothing but what it declares: built, its requirements installed into
a fresh virtualenv (no site packages, no checkout on the path), served from its own folder
against a published store: ``/readyz`` ready and ``/recommend`` 200.

A container built from the bento (``bentoml containerize``) installs exactly these
requirements; Docker is not available here, so the test stops at the bento. Installing the
requirements takes a minute or more with a cold pip cache: marked slow (``make test-all`` and
CI's nightly target run it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nbrec.lifetime import wait_ready
from nbrec.pipeline.publish import publish
from tests.conftest import ROOT
from tests.serving.server import free_port

pytestmark = [pytest.mark.service, pytest.mark.slow]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{cmd[:3]} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def test_built_bento_serves_from_its_own_requirements(tmp_path, item_knn, small_data):
    home = tmp_path / "bentoml"
    clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)),
             "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}  # fmt: skip
    bentoml = str(Path(sys.executable).parent / "bentoml")
    run([bentoml, "build", "-f", "bentos/recommender/bentofile.yaml", "."], cwd=ROOT,
        env={**os.environ, **clean}, timeout=300)  # fmt: skip
    (bento,) = (home / "bentos" / "nbrec_recommender").glob("*/")
    venv = tmp_path / "venv"
    # The interpreter behind this venv, without its packages: a machine with only Python.
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", str(venv)], timeout=120)
    requirements = bento / "env" / "python" / "requirements.txt"
    run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements)],
        env={**clean, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, timeout=900)  # fmt: skip

    store = f"sqlite:///{tmp_path / 'features.db'}"
    publish(item_knn, "b1", store, items=small_data.items)
    port = free_port()
    env = {**clean, "NBREC_STORE_URL": store, "NBREC_VAR_DIR": str(tmp_path / "var"),
           "PATH": f"{venv / 'bin'}:{clean['PATH']}"}  # fmt: skip
    log = tmp_path / "bento.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "bentoml"), "serve", str(bento), "--port", str(port)],
            cwd=bento, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base_url}/readyz", "the bento", 120, proc, log, interval=0.5)
        ready = httpx.get(f"{base_url}/readyz", timeout=10)
        assert ready.json()["model_version"] == "b1"
        user = str(item_knn.user_ids_[0])
        answer = httpx.post(f"{base_url}/recommend", json={"user_id": user, "k": 5}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == "b1" and len(answer.json()["items"]) == 5
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
