"""Security: admin endpoints behind a token (off without one), user ids hashed or dropped in
RR logs, nothing unpickled from the feature store. Secrets in logs: test_faults (Redis test)."""

from __future__ import annotations

import json
import re
import warnings
import zlib

import numpy as np
import orjson
import pytest
import redis

from nbrec.pipeline.publish import publish
from nbrec.rrlog.writer import RRLogger
from nbrec.serving.http import ServingApp
from nbrec.serving.service import RecommendationService
from nbrec.settings import get_settings
from nbrec.store import open_store
from tests.conftest import ROOT
from tests.reliability.conftest import ADMIN_TOKEN
from tests.store.redis_server import redis_server

with warnings.catch_warnings():  # it suggests httpx2, which nbrec does not use
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ADMIN = ("/admin/reload", "/admin/promote", "/admin/rollback")


@pytest.fixture
def app(tmp_path, item_knn, popularity, monkeypatch):
    """The real ASGI app over a SQLite store: v1 then v2 published, v2 live."""
    store = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    publish(item_knn, "v1", store)
    publish(popularity, "v2", store)
    monkeypatch.setenv("NBREC_MODEL_STORE_DIR", str(tmp_path / "models"))
    service = RecommendationService(store, refresh_interval=0)
    yield ServingApp(service)
    service.close()
    get_settings.cache_clear()


def _token(monkeypatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("NBREC_ADMIN_TOKEN", raising=False)
    else:
        monkeypatch.setenv("NBREC_ADMIN_TOKEN", value)
    get_settings.cache_clear()


def test_admin_endpoints_are_off_without_a_token(app, monkeypatch):
    _token(monkeypatch, None)
    client = TestClient(app.app)
    for path in ADMIN:
        r = client.post(path, json={"version": "v1"}, headers={"Authorization": "Bearer x"})
        assert r.status_code == 404 and "admin endpoints are off" in r.json()["error"]
    assert app.service.refresh() == "v2"  # nothing changed


def test_admin_endpoints_need_the_right_token(app, monkeypatch):
    _token(monkeypatch, ADMIN_TOKEN)
    client = TestClient(app.app)
    assert client.post("/admin/rollback").status_code == 401
    wrong = client.post("/admin/rollback", headers={"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"})
    assert wrong.status_code == 403 and app.service.refresh() == "v2"
    right = client.post("/admin/rollback", headers={"X-Admin-Token": ADMIN_TOKEN})
    assert right.status_code == 200 and right.json()["model_version"] == "v1"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    promoted = client.post("/admin/promote", json={"version": "v2"}, headers=auth)
    assert promoted.json() == {"promoted": "v2", "model_version": "v2"}
    unknown = client.post("/admin/promote", json={"version": "v9"}, headers=auth)
    assert unknown.status_code == 404 and "v9" in unknown.json()["error"]
    assert client.post("/recommend", json={"user_id": "u0001"}).json()["model_version"] == "v2"


def test_admin_action_with_the_store_down_is_503_and_changes_nothing(
    tmp_path, item_knn, popularity, monkeypatch
):
    _token(monkeypatch, ADMIN_TOKEN)
    monkeypatch.setenv("NBREC_MODEL_STORE_DIR", str(tmp_path / "models"))
    with redis_server(tmp_path) as url:
        store = open_store(url)
        publish(item_knn, "v1", store)
        publish(popularity, "v2", store)
        service = RecommendationService(store, refresh_interval=0)
        client = TestClient(ServingApp(service).app)
        assert service.refresh() == "v2"
        redis.Redis.from_url(url).shutdown(nosave=True)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        answer = client.post("/admin/rollback", headers=auth)
        assert answer.status_code == 503, answer.text
        assert (
            "feature store unavailable" in answer.json()["error"]
            and "live stays v2" in answer.json()["error"]
        )
        service.close()
    get_settings.cache_clear()


def test_tokens_are_compared_in_constant_time():
    source = (ROOT / "src/nbrec/serving/admin.py").read_text()
    assert "hmac.compare_digest(" in source and "== token" not in source


def _lines(folder) -> list[dict]:
    return [json.loads(x) for f in folder.glob("rr-*.jsonl") for x in f.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["plain", "hash", "drop"])
def test_user_ids_in_rr_logs_plain_hashed_or_dropped(tmp_path, mode):
    logs = {}
    for salt in ("salt-a", "salt-b"):
        log = RRLogger(tmp_path / salt, user_ids=mode, salt=salt)
        for user in ("alice", "bob", "alice"):
            log.log({"kind": "request", "user_id": user})
        log.close()
        logs[salt] = [x["user_id"] for x in _lines(tmp_path / salt)]
    a, b = logs["salt-a"], logs["salt-b"]
    if mode == "plain":
        assert a == ["alice", "bob", "alice"]
    elif mode == "drop":
        assert a == [None, None, None]
    else:
        assert a[0] == a[2] != a[1]  # stable per user: joins and per-user metrics still work
        assert all(re.fullmatch(r"[0-9a-f]{32}", u) for u in a)
        assert a[0] != b[0]  # salted: the same user hashes differently under another salt
        assert "alice" not in json.dumps(a)


def test_user_id_mode_is_checked(monkeypatch):
    monkeypatch.setenv("NBREC_LOG_USER_IDS", "encrypt")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="plain keeps user ids"):
            RRLogger(None)
    finally:
        get_settings.cache_clear()


def test_store_and_serving_code_never_unpickle():
    for folder in ("src/nbrec/store", "src/nbrec/serving", "bentos"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"\b(pickle|cloudpickle|dill|joblib|marshal)\b", text), path


@pytest.mark.redis
def test_stored_values_are_json_float32_bytes_or_compact_lists(tmp_path, lightfm, small_data):
    """Every value a published version leaves in Redis or SQLite parses as JSON, is a raw
    little-endian float32 array (the embeddings) or a compact ranked list against the version's
    item table: nothing a reader would have to unpickle."""
    with redis_server(tmp_path) as url:
        sqlite = open_store(f"sqlite:///{tmp_path / 'features.db'}")
        for store in (open_store(url), sqlite):
            publish(lightfm, "v1", store, items=small_data.items)
            store.add_seen("u1", "i001")
            store.incr_counter("exp", "arm", pulls=1, rewards=1)
        client = redis.Redis.from_url(url)
        values = []
        for key in client.scan_iter("nbrec:*"):
            kind = client.type(key).decode()
            if kind == "hash":
                values += [(f.decode(), v) for f, v in client.hgetall(key).items()]
            elif kind == "string":
                values.append((key.decode(), client.get(key)))
            elif kind == "list":
                values += [(key.decode(), v) for v in client.lrange(key, 0, -1)]
        values += [(k, v) for k, v in sqlite._query("SELECT key, value FROM kv")]
        assert len(values) > 300
        tables = {
            zlib.crc32(v).to_bytes(4, "little"): len(orjson.loads(v))
            for n, v in values
            if n == "items"
        }
        assert tables, "no version item table stored"
        lists = 0
        for name, value in values:
            lists += _json_float32_or_ranked_list(name, value, tables)
        assert lists >= 100, lists  # the per-user lists are in the compact form, and were checked


def _json_float32_or_ranked_list(name: str, value, tables: dict[bytes, int]) -> bool:
    """Check one stored value; True when it is a per-user ranked list: ``tag | int32 codes |
    float32 scores`` against a stored item table (codes inside it, scores finite)."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    if name in ("emb_items", "emb_bias", "emb_features"):
        assert len(raw) % 4 == 0 and np.isfinite(np.frombuffer(raw, dtype="<f4")).all()
        return False
    if raw[:4] in tables and (len(raw) - 4) % 8 == 0:
        n = (len(raw) - 4) // 8
        codes = np.frombuffer(raw, "<i4", n, 4)
        assert ((codes >= 0) & (codes < tables[raw[:4]])).all(), (name, raw[:80])
        assert np.isfinite(np.frombuffer(raw, "<f4", n, 4 + 4 * n)).all(), (name, raw[:80])
        return True
    if name.endswith(("\tpulls", "\trewards")):  # HINCRBY/HINCRBYFLOAT counters
        float(raw)
        return False
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Plain strings: version names, item ids (the live pointer, seen lists).
        assert re.fullmatch(rb"[\w.:-]+", raw), (name, raw[:80])
    return False
