"""What a hostile client sends, over real HTTP to the real service: refused with a 4xx naming
what was wrong, never echoed raw (docs/serving.md, "Input rules")."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from nbrec.pipeline.publish import publish
from nbrec.store import open_store
from tests.reliability.conftest import ADMIN_TOKEN
from tests.serving.server import running_service

pytestmark = pytest.mark.service
JSON = {"Content-Type": "application/json"}
BAD_TEXT = {"DEL": "a\x7fb", "NEL": "a\x85b", "U+2028": "a\u2028b", "U+202E": "gro\u202egnp",
            "ESC": "a\x1bb", "only spaces": "   ", "zero width": "a\u200bb",
            "trailing newline": "ab\n", "only NBSP": "\u00a0\u00a0"}  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory, item_knn, small_data):
    workdir = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{workdir / 'features.db'}"
    store = open_store(url)
    publish(item_knn, "v1", store, items=small_data.items)
    store.close()
    with running_service(workdir, url, {"NBREC_ADMIN_TOKEN": ADMIN_TOKEN}) as base:
        yield base


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, timeout=10) as client:
        yield client


def post(client, path: str, body: dict | bytes, headers=JSON) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, content=content, headers=headers)


@pytest.mark.parametrize("name", BAD_TEXT)
def test_ids_must_be_printable_and_not_blank(client, name):
    bad = BAD_TEXT[name]
    for path, body, field in (
        ("/recommend", {"user_id": bad}, "user_id"),
        ("/recommend", {"user_id": "u0001", "exclude": ["i001", bad]}, "exclude.1"),
        ("/similar_items", {"item_id": bad}, "item_id"),
        ("/feedback", {"user_id": "u0001", "item_id": bad, "event": "click"}, "item_id"),
    ):
        r = post(client, path, body)
        assert r.status_code == 422, (path, r.text)
        assert field in r.json()["error"] and bad not in r.text, r.text


@pytest.mark.parametrize("request_id", ["ab\x00cd", "ab\x1b[31mcd", "ab\u2028cd"])
def test_a_feedback_request_id_with_control_characters_is_refused_never_echoed(client, request_id):
    body = {"user_id": "u0001", "item_id": "i001", "event": "click", "request_id": request_id}
    r = post(client, "/feedback", body)
    assert r.status_code == 422 and "request_id" in r.json()["error"]
    assert request_id not in r.text and "cd" not in r.text.replace(r.json()["request_id"], "")


def test_control_characters_in_filters_are_refused(client):
    r = post(client, "/recommend", {"user_id": "u0001", "filters": {"category": "a\x1bb"}})
    assert r.status_code == 422 and "filters.category" in r.json()["error"]
    r = post(client, "/recommend", {"user_id": "u0001", "filters": {"cat\x1begory": "c1"}})
    assert r.status_code == 422 and "\x1b" not in r.json()["error"]


def test_a_filter_on_an_unknown_key_names_it_and_the_known_ones(client):
    r = post(client, "/recommend", {"user_id": "u0001", "filters": {"colour": "red"}})
    assert r.status_code == 422, r.text
    assert "unknown filter key 'colour'" in r.json()["error"] and "'category'" in r.json()["error"]


def test_an_unknown_filter_value_is_answered_and_said(client, small_data):
    known = str(small_data.items["category"].iloc[0])
    r = post(client, "/recommend", {"user_id": "u0001", "filters": {"category": [known, "zz"]}})
    assert r.status_code == 200, r.text
    assert r.json()["unknown_filter_values"] == {"category": ["zz"]} and r.json()["items"]
    r = post(client, "/recommend", {"user_id": "u0001", "filters": {"category": known}})
    assert "unknown_filter_values" not in r.json()


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_only_json_bodies_are_read(client, content_type):
    """A web page can post text/plain or a form cross-site without a CORS preflight."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    for path in ("/recommend", "/feedback", "/similar_items"):
        r = post(client, path, {"user_id": "u0001"}, headers)
        assert r.status_code == 415, r.text
        assert "application/json" in r.json()["error"] and r.json()["request_id"]


def test_json_with_a_charset_is_json(client):
    r = post(client, "/recommend", {"user_id": "u0001"}, {"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert r.status_code == 200, r.text


def test_no_cors_grant(client):
    r = client.options("/feedback", headers={"Origin": "https://evil.example",
                                             "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "body",
    [b'{"user_id": "u0001", "user_id": "u0002"}',
     b'{"user_id": "u0001", "filters": {"category": "c1", "category": "c2"}}'],
)  # fmt: skip
def test_duplicate_json_keys_are_refused(client, body):
    r = post(client, "/recommend", body)
    assert r.status_code == 422 and "duplicate key" in r.json()["error"], r.text


def test_wrong_admin_tokens_are_throttled(client):
    """A guesser gets a few tries, then waits (429 + Retry-After), right token or not."""
    wrong, right = {"X-Admin-Token": "guess"}, {"X-Admin-Token": ADMIN_TOKEN}
    assert client.post("/admin/reload", headers=right).status_code == 200
    codes = [client.post("/admin/reload", headers=wrong).status_code for _ in range(6)]
    assert codes == [403] * 6  # the free tries
    refused = client.post("/admin/reload", headers=right)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert client.post("/admin/reload", headers=right).status_code == 200  # and the count resets

    start, codes = time.monotonic(), []
    while time.monotonic() - start < 4:  # brute force at full speed
        codes.append(client.post("/admin/rollback", headers=wrong).status_code)
    assert codes.count(403) <= 9 and codes.count(429) > 20, (codes.count(403), len(codes))
    assert set(codes) == {403, 429}
