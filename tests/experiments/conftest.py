"""Experiments fixtures: a synthetic population with known tastes, and experiment configs."""

from __future__ import annotations

import pytest

from nbrec.data.synthetic import generate
from nbrec.experiments.simulator import Population
from tests.store.conftest import redis_url  # noqa: F401  (a real redis-server, session-wide)


@pytest.fixture(scope="session")
def population() -> Population:
    """2,000 users in 12 taste categories over 300 items; click 5% on liked items, 1% otherwise."""
    return Population.from_dataset(generate(users=2_000, items=300, interactions=20_000, seed=1))
