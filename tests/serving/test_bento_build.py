"""``bentoml build`` packs the recommender service (into a temporary BENTOML_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.service


def test_bentoml_build_succeeds(tmp_path):
    bentoml = str(Path(sys.executable).parent / "bentoml")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "True"}
    done = subprocess.run(
        [bentoml, "build", "-f", "bentos/recommender/bentofile.yaml", "."],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    built = list((tmp_path / "bentos" / "nbrec_recommender").glob("*/bento.yaml"))
    assert len(built) == 1
    spec = yaml.safe_load(built[0].read_text())
    assert spec["service"] == "bentos.recommender.service:NbrecService"
    assert spec["entry_service"] == "nbrec_recommender"
    source = built[0].parent / "src"
    assert (source / "bentos" / "recommender" / "service.py").is_file()
    assert (source / "src" / "nbrec" / "serving" / "service.py").is_file()
