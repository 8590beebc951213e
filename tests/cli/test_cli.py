"""The ``nbrec`` command: data generation, the leaderboard, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from nbrec.cli import app

runner = CliRunner()
KEYS = {"model", "ndcg@10", "precision@10", "recall@10", "map@10", "coverage", "fit_seconds"}


def test_generate_then_leaderboard_json(tmp_path):
    out = tmp_path / "synthetic"
    result = runner.invoke(app, ["data", "generate", "--users", "200", "--items", "80",
                                 "--interactions", "3000", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "interactions.parquet").is_file() and (out / "items.parquet").is_file()
    result = runner.invoke(app, ["leaderboard", "--dataset", str(out), "--models", "popularity,random",
                                 "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["popularity", "random"]
    assert all(set(r) >= KEYS for r in rows)
    assert rows[0]["protocol"]["split"] == "stratified" and rows[0]["protocol"]["seed"] == 42


def test_user_error_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["leaderboard", "--dataset", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "file not found" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["leaderboard", "--models", "popularity,nosuchmodel"])
    assert result.exit_code == 2 and "unknown model 'nosuchmodel'" in result.output


def test_movielens_100k_leaderboard_follows_the_protocol(movielens_dir):
    """The acceptance command, as a user runs it (a real process)."""
    env = {**os.environ, "NBREC_DATA_DIR": str(movielens_dir)}
    cmd = [sys.executable, "-m", "nbrec", "leaderboard", "--dataset", "movielens-100k",
           "--models", "popularity,random", "--format", "json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=True)
    rows = {r["model"]: r for r in json.loads(done.stdout)}
    protocol = rows["popularity"]["protocol"]
    assert (protocol["split"], protocol["seed"], protocol["test_ratio"], protocol["k"]) == (
        "stratified",
        42,
        0.25,
        10,
    )
    assert protocol["dataset"] == "movielens-100k" and len(protocol["dataset_hash"]) == 16
    # Published popularity baselines under a similar protocol: NDCG@10 ~0.25, precision@10 ~0.22.
    assert 0.22 <= rows["popularity"]["ndcg@10"] <= 0.28
    assert 0.19 <= rows["popularity"]["precision@10"] <= 0.25
    assert rows["random"]["ndcg@10"] < 0.04
