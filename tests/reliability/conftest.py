"""Fixtures for the reliability tests: a published model and the real service over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbrec.data.synthetic import generate
from nbrec.models import make_model
from nbrec.serving.publish import publish
from nbrec.store import open_store
from tests.service.server import running_service

ADMIN_TOKEN = "s3cret-admin-token-for-tests"


@pytest.fixture(scope="session")
def small_data():
    return generate(users=300, items=120, interactions=6_000, seed=7)


@pytest.fixture(scope="session")
def popularity(small_data):
    return make_model("popularity").fit(small_data.interactions, small_data.items, small_data.users)


@pytest.fixture(scope="session")
def item_knn(small_data):
    return make_model("item_knn").fit(small_data.interactions, small_data.items, small_data.users)


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'var' / 'features.db'}"


def publish_to(url: str, model, version: str, items=None) -> None:
    store = open_store(url)
    try:
        publish(model, version, store, items=items)
    finally:
        store.close()


@pytest.fixture(scope="module")
def sqlite_service(tmp_path_factory, item_knn, small_data):
    """The BentoML service on SQLite with item_knn live as v1 and an admin token set.

    Yields (base URL, work dir, store URL).
    """
    workdir = tmp_path_factory.mktemp("svc")
    (workdir / "var").mkdir()
    url = sqlite_url(workdir)
    publish_to(url, item_knn, "v1", small_data.items)
    with running_service(workdir, url, {"NBREC_ADMIN_TOKEN": ADMIN_TOKEN}) as base:
        yield base, workdir, url
