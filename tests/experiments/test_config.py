"""Experiments as config: the repo's YAML files load, and bad configs fail with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from nbrec.experiments.config import (
    LIVE,
    Experiment,
    find_experiment,
    load_experiment,
    load_experiments,
)

ROOT = Path(__file__).resolve().parents[2]
TWO = [{"name": "a", "allocation": 0.5}, {"name": "b", "allocation": 0.5}]


def test_repository_experiments_load():
    assert load_experiments(ROOT / "experiments") == []  # templates only: nothing routes by default
    experiments = load_experiments(ROOT / "experiments" / "examples")
    assert {"ranker-ab", "bandit-explore"} <= {e.name for e in experiments}
    bandit = find_experiment(experiments, "bandit-explore")
    assert bandit.variant("thompson").is_policy and bandit.variant("control").model_version == LIVE
    ab = find_experiment(experiments, "ranker-ab")
    assert ab.salt == "ranker-ab-1" and ab.holdout == 0.05 and ab.control == "control"
    mixed = find_experiment(experiments, "ranker-interleaving")
    assert mixed.type == "interleaving" and mixed.variant_names == ["live", "candidate"]


def test_defaults_salt_control_and_utc():
    exp = Experiment(name="x", variants=TWO, start="2026-01-01T00:00:00")
    assert exp.salt == "x" and exp.control == "a"
    assert exp.start.tzinfo is not None  # naive YAML timestamps mean UTC
    assert not exp.is_running(datetime(2025, 12, 31, tzinfo=UTC))
    assert exp.is_running(datetime(2026, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"variants": [{"name": "a", "allocation": 0.5}, {"name": "b", "allocation": 0.4}]},
            "sum to 0.9",
        ),
        (
            {"variants": [{"name": "a", "allocation": 0.5}, {"name": "a", "allocation": 0.5}]},
            "repeat",
        ),
        ({"variants": [{"name": "a", "allocation": 1.0}]}, "at least 2"),
        ({"holdout": 0.7}, "holdout"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "not after start"),
        ({"control": "zzz"}, "control 'zzz'"),
        (
            {
                "variants": [
                    {"name": "a", "allocation": 0.5, "policy": "thompson", "model_version": "v1"},
                    {"name": "b", "allocation": 0.5},
                ]
            },
            "OR a policy",
        ),  # fmt: skip
        (
            {
                "variants": [
                    {"name": "holdout", "allocation": 0.5},
                    {"name": "b", "allocation": 0.5},
                ]
            },
            "reserved",
        ),
        (
            {
                "variants": [
                    {"name": "a", "allocation": 0.5, "policy": "magic"},
                    {"name": "b", "allocation": 0.5},
                ]
            },
            "policy",
        ),  # fmt: skip
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_config_names_file_and_problem(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "variants": TWO, **change}))
    with pytest.raises(ValueError, match="bad.yaml") as info:
        load_experiment(path)
    assert message in str(info.value)


def test_layers_must_fit_and_names_be_unique(tmp_path):
    for name, traffic in (("one", 0.6), ("two", 0.6)):
        (tmp_path / f"{name}.yaml").write_text(
            yaml.safe_dump({"name": name, "layer": "L", "traffic": traffic, "variants": TWO})
        )
    with pytest.raises(ValueError, match="layer 'L'.*take 1.2"):
        load_experiments(tmp_path)
    (tmp_path / "two.yaml").write_text(yaml.safe_dump({"name": "one", "variants": TWO}))
    with pytest.raises(ValueError, match="defined twice"):
        load_experiments(tmp_path)


def test_missing_folder_means_no_experiments(tmp_path):
    assert load_experiments(tmp_path / "nope") == []
