"""``nbrec publish`` and ``nbrec serve`` argument checks (serving itself: test_http.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nbrec.cli import app
from nbrec.store import open_store


def test_publish_fits_and_makes_live(tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    result = CliRunner().invoke(
        app, ["publish", "--dataset", "synthetic", "--model", "popularity", "--store", url,
              "--version", "cli-1", "--top-n", "20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # progress goes to stderr
    assert summary["version"] == "cli-1" and summary["live"] is True and summary["users"] > 0
    store = open_store(url)
    assert store.live_version() == "cli-1" and len(store.popular("cli-1")[0]) == 20


def test_publish_names_a_bad_model(tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    result = CliRunner().invoke(app, ["publish", "--model", "nope", "--store", url])
    assert result.exit_code == 2 and "nope" in result.output


def test_serve_refuses_a_bad_port():
    result = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and "--port must be within 1..65535" in result.output
