"""Shared fixtures: small data sets with known answers, the data dir, free ports."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.data.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]

# Hypothesis profiles: how many examples each property test (the fuzzers) tries. `make test` and
# CI use "fast"; `make test-all` uses "nightly" (5x more cases); HYPOTHESIS_PROFILE picks one.
# In CI the examples are derandomized: a red build replays the same cases (reproducible);
# elsewhere hypothesis explores new ones each run, and a find becomes an @example case.
settings.register_profile(
    "fast", max_examples=100, deadline=None, derandomize=bool(os.environ.get("CI")), print_blob=True
)
settings.register_profile("nightly", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def shared_data_dir() -> Path | None:
    """``NBREC_DATA_DIR`` if it holds MovieLens (as in CI), else ../shared/data, else None."""
    for candidate in (os.environ.get("NBREC_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "movielens-100k" / "u.data").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    found = shared_data_dir()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have MovieLens under NBREC_DATA_DIR (../shared/data)")
        pytest.skip("MovieLens not found: set NBREC_DATA_DIR to a folder holding movielens-100k/")
    return found


def checkerboard(n_users: int = 40, n_items: int = 20, seed: int = 0) -> pd.DataFrame:
    """Two taste groups: even users like even items, odd users odd items (a known answer).

    Each user has about 60% of their group's items; the rest are the right answer.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        own = [i for i in range(n_items) if i % 2 == u % 2]
        for i in rng.choice(own, size=int(len(own) * 0.6), replace=False):
            rows.append((f"u{u:03d}", f"i{i:03d}", int(rng.integers(1_700_000_000, 1_700_100_000))))
    frame = pd.DataFrame(rows, columns=[USER_COL, ITEM_COL, TIMESTAMP_COL])
    frame[TIMESTAMP_COL] = pd.to_datetime(frame[TIMESTAMP_COL], unit="s", utc=True)
    frame[WEIGHT_COL] = 1.0
    frame["event_type"] = "view"
    return frame


@pytest.fixture
def board() -> pd.DataFrame:
    return checkerboard()


@pytest.fixture(scope="session")
def tiny_synthetic():
    """A few thousand events: fast enough for every unit test."""
    return generate(users=300, items=120, interactions=6_000, seed=7)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
