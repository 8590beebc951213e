from __future__ import annotations

import pytest

from nbrec.data.synthetic import generate


@pytest.fixture(scope="session")
def clean():
    """A small synthetic data set that passes every suite."""
    return generate(users=120, items=60, interactions=2_500, seed=3)


@pytest.fixture
def out_dir(tmp_path):
    return tmp_path / "validation"
