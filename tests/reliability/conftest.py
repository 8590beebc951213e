"""Fixtures for the reliability tests: a published model and the real service over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbrec.pipeline.publish import publish
from tests.serving import conftest as service_fixtures
from tests.serving.server import running_service

ADMIN_TOKEN = "s3cret-admin-token-for-tests"
# The serving tests' fitted models, shared (same data, same parameters).
small_data = service_fixtures.small_data
item_knn = service_fixtures.item_knn
popularity = service_fixtures.popularity
lightfm = service_fixtures.lightfm


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'var' / 'features.db'}"


@pytest.fixture(scope="module")
def sqlite_service(tmp_path_factory, item_knn, small_data):
    """The BentoML service on SQLite with item_knn live as v1 and an admin token set.

    Yields (base URL, work dir, store URL).
    """
    workdir = tmp_path_factory.mktemp("svc")
    (workdir / "var").mkdir()
    url = sqlite_url(workdir)
    publish(item_knn, "v1", url, items=small_data.items)
    # The fuzzer sends thousands of generated (wrong) tokens: no throttling here
    # (tests/reliability/test_hostile_input.py tests it).
    env = {"NBREC_ADMIN_TOKEN": ADMIN_TOKEN, "NBREC_ADMIN_FREE_TRIES": "1000000"}
    with running_service(workdir, url, env) as base:
        yield base, workdir, url
