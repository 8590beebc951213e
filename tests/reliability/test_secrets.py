"""Credentials in a store URL never shown: CLI output, error bodies, logs, metrics. (Also:
``/admin/reload`` with the store down is a 503, not ``reloaded: true``.)

Every form redis-py accepts (``redis.connection.parse_url``) is tried against a real
redis-server with a password, over TCP and a unix socket, through the real ``nbrec publish``
and the real service (its admin 503 while the store is down).
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from nbrec.data import write_parquet_dataset
from nbrec.data.synthetic import generate
from nbrec.redaction import redact_url
from tests.reliability.conftest import ADMIN_TOKEN
from tests.serving.server import free_port, running_service
from tests.store.redis_server import require_binary, wait_ready

SECRET = "Pa55-in-the-URL"  # distinctive: found anywhere means leaked
FORMS = {
    "userinfo": "redis://default:{pw}@127.0.0.1:{port}/0",
    "password only": "redis://:{pw}@127.0.0.1:{port}/0",
    "query password": "redis://127.0.0.1:{port}/0?password={pw}",
    "query user and password": "redis://127.0.0.1:{port}/0?username=default&password={pw}",
    "unix userinfo": "unix://:{pw}@{sock}?db=0",
    "unix query": "unix://{sock}?db=0&password={pw}",
}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rediss://u:{pw}@h:6380/1?ssl_cert_reqs=none", "rediss://***@h:6380/1?ssl_cert_reqs=none"),
        ("redis+cluster://u:{pw}@h:7000", "redis+cluster://***@h:7000"),
        ("redis://h/0?ssl_keyfile=/k.pem&ssl_password={pw};db=1",
         "redis://h/0?ssl_keyfile=/k.pem&ssl_password=***;db=1"),
        ("redis://u:p@ss/{pw}@h:1/0", "redis://***@h:1/0"),  # unencoded "@" and "/" in it
        ("redis://h:99999999/0?PASSWORD={pw}", "redis://h:99999999/0?PASSWORD=***"),  # bad port
        ("sqlite:///var/store/features.db", "sqlite:///var/store/features.db"),
    ],
)  # fmt: skip
def test_redact_url_masks_forms_that_never_reach_a_server(url, shown):
    assert redact_url(url.format(pw=SECRET)) == shown


@contextmanager
def redis_with_password(workdir: Path):
    """A redis-server requiring SECRET, on a TCP port and a unix socket."""
    port, sock = free_port(), workdir / "redis.sock"
    proc = subprocess.Popen(
        [require_binary("redis-server", "redis-server"), "--port", str(port), "--bind",
         "127.0.0.1", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--requirepass", SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, password=SECRET)
    try:
        wait_ready(proc, client, port)
        yield proc, port, sock
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def nbrec(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbrec", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)  # fmt: skip


@pytest.mark.redis
@pytest.mark.service
def test_no_form_of_the_password_is_ever_shown(tmp_path):
    data = write_parquet_dataset(generate(users=120, items=60, interactions=2_000, seed=5),
                                 tmp_path / "data")  # fmt: skip
    env = {"NBREC_VAR_DIR": str(tmp_path / "var"), "BENTOML_HOME": str(tmp_path / "bentoml")}
    with redis_with_password(tmp_path) as (proc, port, sock):
        urls = {name: form.format(pw=SECRET, port=port, sock=sock) for name, form in FORMS.items()}
        # The CLI: each form works (the password is used) and is never printed.
        for i, (name, url) in enumerate(urls.items()):
            done = nbrec("publish", "--dataset", str(data), "--version", f"v{i}", "--store", url,
                         env=env)  # fmt: skip
            assert done.returncode == 0, (name, done.stderr)
            assert SECRET not in done.stdout + done.stderr, name
            assert '"store": "RedisStore(' in done.stdout, done.stdout
        bad = nbrec("publish", "--dataset", str(data), "--store", f"redis+sentinel://:{SECRET}@h")
        assert bad.returncode == 2 and "unsupported store URL" in bad.stderr
        assert SECRET not in bad.stdout + bad.stderr

        # The service: its admin 503 while the store is down, its metrics and its logs.
        url = urls["query user and password"]
        with running_service(tmp_path, url, {"NBREC_ADMIN_TOKEN": ADMIN_TOKEN}) as base:
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            assert httpx.post(f"{base}/recommend", json={"user_id": "u0001"}).status_code == 200
            redis.Redis(port=port, password=SECRET).shutdown(nosave=True)
            proc.wait(timeout=10)
            for path in ("/admin/reload", "/admin/rollback", "/admin/promote"):
                answer = httpx.post(f"{base}{path}", json={"version": "v1"}, headers=auth)
                assert answer.status_code == 503, answer.text
                assert "feature store unavailable" in answer.text and SECRET not in answer.text
                assert "***" in answer.text  # the URL is named, masked
            assert httpx.post(f"{base}/recommend", json={"user_id": "u0001"}).status_code == 200
            metrics = httpx.get(f"{base}/metrics").text
            assert "nbrec_requests_total" in metrics and SECRET not in metrics
    logs = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in {".log", ".jsonl"}]
    assert logs
    for path in logs:
        assert SECRET not in path.read_text(errors="replace"), path
