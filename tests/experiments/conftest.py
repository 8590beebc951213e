"""Experiments fixtures: a synthetic population with known tastes, and experiment configs."""

from __future__ import annotations

import pytest

from nbrec.data.synthetic import generate
from nbrec.experiments.config import Experiment
from nbrec.experiments.simulator import Population


@pytest.fixture(scope="session")
def population() -> Population:
    """2,000 users in 12 taste categories over 300 items; click 5% on liked items, 1% otherwise."""
    return Population.from_dataset(generate(users=2_000, items=300, interactions=20_000, seed=1))


def two_way(name: str = "exp", holdout: float = 0.0, **kwargs) -> Experiment:
    """A 50/50 control/treatment experiment."""
    variants = [{"name": "control", "allocation": 0.5}, {"name": "treatment", "allocation": 0.5}]
    return Experiment(name=name, holdout=holdout, variants=variants, **kwargs)
