"""The model registry lives under the project's var/: two checkouts never see each other's
versions, and BentoML's usual home (~/bentoml) is one setting away (BENTOML_HOME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

REGISTER = """
from nbrec.data.synthetic import generate
from nbrec.models import make_model
from nbrec.pipeline import model_store
data = generate(users=60, items=30, interactions=600, seed=1)
model = make_model("popularity").fit(data.interactions)
print(model_store.save_model(model, "{version}", {{"k": 10}})[0].path)
"""


def run(cwd, env, *args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def versions(cwd, env) -> list[str]:
    listed = run(cwd, env, "-m", "nbrec", "models", "list", "--format", "json")
    return [row["version"] for row in json.loads(listed.stdout)]


def test_each_checkout_has_its_own_registry_under_var(tmp_path):
    home = tmp_path / "home"  # the user's home: BentoML's default store would be ~/bentoml
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NBREC_", "BENTOML_"))}  # fmt: skip
    env.update({"HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"})
    first, second = tmp_path / "checkout-a", tmp_path / "checkout-b"
    for folder in (first, second):
        folder.mkdir()

    path = run(first, env, "-c", REGISTER.format(version="a1")).stdout.strip()
    assert path.startswith(str(first / "var" / "bentoml" / "models")), path
    assert versions(first, env) == ["a1"]
    assert versions(second, env) == []  # the other checkout sees nothing
    assert not (home / "bentoml").exists()

    # One setting away: BentoML's usual home, shared on purpose.
    shared = {**env, "BENTOML_HOME": str(home / "bentoml")}
    path = run(second, shared, "-c", REGISTER.format(version="b1")).stdout.strip()
    assert path.startswith(str(home / "bentoml" / "models")), path
    assert versions(first, shared) == ["b1"] and versions(first, env) == ["a1"]
