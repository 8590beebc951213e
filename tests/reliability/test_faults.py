"""Faults under load: the store pausing and stopping, a publish mid-traffic, a publish killed
half-way, corrupted model artifacts. Real redis-server, real BentoML service, real SIGSTOP/SIGKILL.

Malformed data files are covered by tests/data/test_fuzz_loaders.py (fuzzed files raise only
the documented DataError) and the pipeline's Great Expectations validation (tests/validation).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from nbrec.pipeline.publish import publish
from nbrec.serving.service import RecommendationService
from nbrec.store import open_store
from tests.conftest import ROOT
from tests.reliability.conftest import ADMIN_TOKEN, sqlite_url
from tests.reliability.load import Load
from tests.serving.server import free_port, running_service
from tests.store.redis_server import require_binary, wait_ready

REDIS_PASSWORD = "r3dis-pa55word-for-tests"


@contextmanager
def redis_process(workdir: Path, port: int, password: str | None = None):
    """A redis-server that saves to ``workdir`` on SHUTDOWN SAVE and reloads on restart."""
    binary = require_binary("redis-server", "redis-server")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", str(workdir)] + (["--requirepass", password] if password else [])  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=password)
    try:
        wait_ready(proc, client, port)
        yield proc
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=10)


def metric(base: str, prefix: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(prefix))  # fmt: skip


@pytest.mark.redis
@pytest.mark.service
def test_redis_pause_and_stop_under_load(tmp_path, item_knn, small_data):
    """SIGSTOP, then SHUTDOWN, of Redis mid-traffic: every request answered 200 within the
    budget, from the in-process copy, and the service recovers by itself each time.
    Also: the admin token and the Redis password never reach the logs."""
    port = free_port()
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    env = {"NBREC_ADMIN_TOKEN": ADMIN_TOKEN, "NBREC_STORE_TIMEOUT_MS": "20",
           "NBREC_STORE_RETRY_AFTER": "0.3"}  # fmt: skip
    users = [str(u) for u in item_knn.user_ids_[:50]]
    with redis_process(tmp_path, port, REDIS_PASSWORD) as proc:
        publish(item_knn, "r1", url, items=small_data.items)
        with running_service(tmp_path, url, env) as base, Load(base, users) as load:
            normal = lambda a: a.body.get("fallback") is None  # noqa: E731
            degraded = lambda a: a.body.get("fallback") == "store_unavailable"  # noqa: E731
            load.wait_for(normal)
            fallbacks_before = metric(
                base, 'nbrec_recommendations_total{fallback="store_unavailable"'
            )

            proc.send_signal(signal.SIGSTOP)  # paused: connections hang, nothing refused
            t_pause = time.monotonic()
            load.wait_for(degraded)
            time.sleep(1.5)
            proc.send_signal(signal.SIGCONT)
            paused = [a for a in load.since(t_pause) if a.at < time.monotonic()]
            load.wait_for(normal)

            redis.Redis(port=port, password=REDIS_PASSWORD).shutdown(save=True)
            proc.wait(timeout=10)
            load.wait_for(degraded)
            time.sleep(1.0)
            with redis_process(tmp_path, port, REDIS_PASSWORD):  # same data, same port
                load.wait_for(normal, timeout=20)
                time.sleep(0.5)
                fallbacks = metric(base, 'nbrec_recommendations_total{fallback="store_unavailable"')
                # Admin calls with a right and a wrong token: the token must not be logged
                # either. While Redis is up: reload asks the store (503 while it is down).
                auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
                assert httpx.post(f"{base}/admin/reload", headers=auth).status_code == 200
                bad = {"Authorization": f"Bearer {ADMIN_TOKEN}x"}
                assert httpx.post(f"{base}/admin/reload", headers=bad).status_code == 403

    answers = load.answers
    assert not load.errors, load.errors[:3]
    assert {a.status for a in answers} == {200}, [a.body for a in answers if a.status != 200][:3]
    assert sum(degraded(a) for a in answers) > 10 and fallbacks > fallbacks_before
    assert all(a.body["items"] for a in answers)  # fallback answers are never empty
    # The budget holds while Redis hangs: no request waited for it much longer than 20 ms
    # (the bound leaves room for a busy 2-core CI machine).
    slowest = max(a.latency for a in paused)
    assert slowest < 0.5, f"slowest answer while Redis was paused: {slowest:.3f}s"
    logs = [*(tmp_path / "var" / "logs").glob("rr-*.jsonl"), *tmp_path.glob("service-*.log")]
    assert len(logs) >= 2
    for path in logs:
        text = path.read_text(errors="replace")
        assert REDIS_PASSWORD not in text and ADMIN_TOKEN not in text, f"secret in {path}"
    print(f"{len(answers)} answers, {sum(degraded(a) for a in answers)} from the fallback, "
          f"slowest while paused {slowest * 1000:.1f} ms")  # fmt: skip


@pytest.mark.service
def test_publish_under_load_serves_exactly_one_version(tmp_path, item_knn, popularity, small_data):
    """Zero failed requests while v2 goes live; every answer is exactly the named version's list."""
    (tmp_path / "var").mkdir()
    url = sqlite_url(tmp_path)
    publish(item_knn, "v1", url, items=small_data.items)
    users = [str(u) for u in item_knn.user_ids_[:60]]
    with running_service(tmp_path, url) as base, Load(base, users, threads=3) as load:
        load.wait_for(lambda a: a.body.get("model_version") == "v1")
        time.sleep(0.5)
        publish(popularity, "v2", url, items=small_data.items)  # from this process, mid-traffic
        load.wait_for(lambda a: a.body.get("model_version") == "v2")
        time.sleep(0.5)
    store = open_store(url)
    expected = {(v, u): store.user_recs(v, u)[0][:5] for v in ("v1", "v2") for u in users}
    answers = load.answers
    assert not load.errors and {a.status for a in answers} == {200}
    versions = {a.body["model_version"] for a in answers}
    assert versions == {"v1", "v2"}
    wrong = [a for a in answers
             if [i["item_id"] for i in a.body["items"]] != expected[(a.body["model_version"], a.user)]]  # fmt: skip
    assert not wrong, f"{len(wrong)} answers mix versions, e.g. {wrong[0]}"
    print(f"{len(answers)} answers across the switch, 0 failed, 0 mixed")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_publish_killed_half_way_leaves_the_live_version_whole(backend, tmp_path, item_knn):
    """SIGKILL a publish after partial writes: live still names v1, v2 is not listed, and the
    next publish of v2 succeeds."""
    if backend == "redis":
        port = free_port()
        ctx = redis_process(tmp_path, port)
        url = f"redis://127.0.0.1:{port}/0"
    else:
        ctx, url = _nothing(), f"sqlite:///{tmp_path / 'features.db'}"
    with ctx:
        publish(item_knn, "v1", url)
        marker = tmp_path / "half-written"
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.interrupted_publish", url, "v2", str(marker)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert child.poll() is None, "the publishing process ended before the pause"
                assert time.monotonic() < deadline, "the publish never reached its pause"
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        store = open_store(url)
        if backend == "redis":  # the half-written rows are really there
            assert redis.Redis(port=port).keys("nbrec:v:v2:recs:*")
        assert store.live_version() == "v1"
        assert "v2" not in store.list_versions()
        svc = RecommendationService(store, refresh_interval=0)
        answer = svc.recommend(_req(str(item_knn.user_ids_[0])))
        assert answer["model_version"] == "v1" and answer["fallback"] is None
        publish(item_knn, "v2", url)  # the next publish succeeds
        assert store.live_version() == "v2"
        assert store.user_recs("v2", str(item_knn.user_ids_[0])) == store.user_recs(
            "v1", str(item_knn.user_ids_[0]))  # fmt: skip
        store.close()


def test_corrupted_or_truncated_artifact_is_refused(tmp_path, monkeypatch, popularity, item_knn):
    """A registered model whose files no longer match the sha256 manifest is never published;
    the live version stays live."""
    from nbrec.pipeline import lifecycle, model_store
    from nbrec.settings import get_settings

    monkeypatch.setenv("NBREC_MODEL_STORE_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    try:
        store = open_store(f"sqlite:///{tmp_path / 'features.db'}")
        model_store.save_model(popularity, "good", {})
        lifecycle.promote("good", store)
        for version, damage in [("flipped", _flip_byte), ("truncated", _truncate)]:
            entry, _ = model_store.save_model(item_knn, version, {})
            victim = max((entry.path / model_store.ARTIFACT_DIR).rglob("*"), key=_size)
            damage(victim)
            with pytest.raises(model_store.ChecksumError, match=victim.name):
                lifecycle.promote(version, store)
            with pytest.raises(model_store.ChecksumError):
                model_store.load_model(version)
            assert store.live_version() == "good" and version not in store.list_versions()
        store.close()
    finally:
        get_settings.cache_clear()


def test_everything_loads_models_through_the_checksummed_registry():
    """``Recommender.load`` (no checksum) is called only by ``model_store.load_model``."""
    callers = [path.relative_to(ROOT) for path in (ROOT / "src" / "nbrec").rglob("*.py")
               if ".load(" in path.read_text() and "Recommender.load(" in path.read_text()]  # fmt: skip
    assert [str(p) for p in callers] == ["src/nbrec/pipeline/model_store.py"], callers
    for folder in ("flows", "bentos", "src/nbrec/pipeline", "src/nbrec/serving", "src/nbrec/cli"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "model_store.py":
                assert "Recommender.load" not in path.read_text(), path


@contextmanager
def _nothing():
    yield


def _req(user: str):
    from nbrec.serving.schemas import RecommendRequest

    return RecommendRequest(user_id=user, k=5)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else -1


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: _size(path) // 2])
