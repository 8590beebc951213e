"""A plain (non-editable) ``pip install .`` trains and serves from an empty directory.

The package is built from a copy of the checkout and installed with ``--no-deps`` into a fresh
virtualenv that sees the test environment's dependencies through a ``.pth`` line (a path, so
the editable nbrec of the test environment stays invisible). Then, in an empty folder:
``nbrec data generate`` (small), ``nbrec train --dataset synthetic`` (its flow, notebook and
suites come from the installed package) and ``nbrec serve``, which must answer /recommend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.serving.server import free_port

# Several minutes on 2 busy cores (a Prefect server and a BentoML service start from scratch):
# kept out of `make test`; `make test-install` (run by CI, .ci/run) and `make test-all` run it.
pytestmark = [pytest.mark.slow, pytest.mark.service, pytest.mark.flows]
SKIP = {".git", ".venv", "var", "build", "dist", ".ruff_cache", ".pytest_cache", "__pycache__"}


def run(args: list[str], cwd: Path, env: dict, timeout: float = 600) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv with nbrec installed from a built wheel (not editable); its bin folder."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=lambda d, names: SKIP & set(names))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # pip (from the test environment, through deps.pth) run by the venv's own python: the
    # console scripts then start that python, which imports the installed copy.
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--ignore-installed",
         "--quiet", str(source)], tmp, env)  # fmt: skip
    return venv / "bin"


def test_pip_install_trains_and_serves_from_an_empty_directory(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBREC_", "PYTHONPATH"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), BENTOML_DO_NOT_TRACK="True",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600")  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    # Jupyter's data files (nbconvert's templates, kernel specs) of the borrowed dependencies:
    # they live under the test environment's prefix, the one thing deps.pth does not lend.
    env["JUPYTER_PATH"] = str(Path(sysconfig.get_path("data")) / "share" / "jupyter")
    python, nbrec = str(installed / "python"), str(installed / "nbrec")
    where = run([python, "-c", "import nbrec; print(nbrec.__file__)"], work, env)
    assert str(ROOT / "src") not in where and "site-packages" in where, where

    run([nbrec, "data", "generate", "--users", "300", "--items", "120", "--interactions",
         "6000", "--out", "var/data/synthetic"], work, env)  # fmt: skip
    run([nbrec, "train", "--dataset", "synthetic", "--model", "item_knn", "--margin", "-1",
         "--notebooks", "01_framing"], work, env, timeout=900)  # fmt: skip
    assert list((work / "var" / "runs").glob("*/01_framing.ipynb")), "the notebook did not run"

    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([nbrec, "serve", "--port", str(port)], cwd=work, env=env,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        body = json.dumps({"user_id": "u0001", "k": 5}).encode()
        deadline, answer = time.monotonic() + 600, None
        while time.monotonic() < deadline and server.poll() is None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/recommend", body, {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = (response.status, json.loads(response.read()))
                    break
            except OSError:
                time.sleep(1)
        assert answer is not None, (tmp_path / "serve.log").read_text()[-3000:]
        status, payload = answer
        assert status == 200 and len(payload["items"]) == 5 and payload["model_version"]
    finally:
        server.terminate()
        server.wait(30)
        log.close()
