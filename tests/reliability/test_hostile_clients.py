"""Hostile clients against the real service: made-up paths do not grow /metrics, a client that
stalls its body is cut off early (408), and every answer, BentoML's timeouts included, is
counted in nbrec_requests_total and written to the RR log."""

from __future__ import annotations

import random
import socket
import string
import time

import httpx
import pytest

from nbrec.pipeline.publish import publish
from nbrec.store import open_store
from tests.reliability.conftest import ADMIN_TOKEN
from tests.serving.server import rr_lines, running_service

pytestmark = pytest.mark.service


def start(tmp_path_factory, item_knn, env: dict):
    workdir = tmp_path_factory.mktemp("clients")
    url = f"sqlite:///{workdir / 'features.db'}"
    store = open_store(url)
    publish(item_knn, "v1", store)
    store.close()
    return workdir, running_service(workdir, url, {"NBREC_ADMIN_TOKEN": ADMIN_TOKEN, **env})


@pytest.fixture(scope="module")
def service(tmp_path_factory, item_knn):
    workdir, running = start(tmp_path_factory, item_knn, {})
    with running as base:
        yield base, workdir


def series(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def counted(base: str, endpoint: str, status: int) -> float:
    return series(base).get(f'nbrec_requests_total{{endpoint="{endpoint}",status="{status}"}}', 0)


def probe(client: httpx.Client, rng: random.Random, n: int) -> None:
    for i in range(n):
        path = "/p-" + "".join(rng.choices(string.ascii_lowercase + "/_-", k=12))
        if i % 3:
            assert client.get(path).status_code == 404
        else:
            assert client.post(path, json={"user_id": "u0001"}).status_code in (404, 405)


def test_made_up_paths_create_no_series(service):
    """A few hundred made-up paths: not one new series (they all count as ``other``)."""
    base, _ = service
    rng = random.Random(17)
    with httpx.Client(base_url=base, timeout=10) as client:
        probe(client, rng, 30)  # the "other" series exist from here on
        series(base)  # and those of /metrics itself
        before = series(base)
        size = len(httpx.get(f"{base}/metrics").content)
        probe(client, rng, 300)
    after = series(base)
    assert set(after) == set(before), sorted(set(after) ^ set(before))[:10]
    other = 'nbrec_requests_total{endpoint="other",status="404"}'
    assert after[other] - before[other] >= 300 * 2 / 3
    assert len(httpx.get(f"{base}/metrics").content) < 1.05 * size  # only counts grew


def raw_request(port: int, path: str, declared: int, sent: bytes, extra: str = "") -> socket.socket:
    """A client that declares a ``declared``-byte JSON body and sends only ``sent``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n{extra}\r\n")  # fmt: skip
    sock.sendall(head.encode() + sent)
    return sock


def read_status(sock: socket.socket) -> tuple[int, float]:
    start = time.monotonic()
    data = sock.recv(65536)
    sock.close()
    return int(data.split(b" ", 2)[1]), time.monotonic() - start


def test_a_stalled_body_is_cut_off_early_counted_and_logged(service):
    base, workdir = service
    port = int(base.rsplit(":", 1)[1])
    before = counted(base, "/recommend", 408)
    status, waited = read_status(raw_request(port, "/recommend", 60, b'{"user_id": "slo'))
    assert status == 408 and waited < 5, (status, waited)  # not BentoML's 10 s
    assert counted(base, "/recommend", 408) == before + 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(x.get("status") == 408 for x in rr_lines(workdir / "var" / "logs")):
            break
        time.sleep(0.2)
    assert any(x.get("status") == 408 and "did not arrive" in x.get("error", "")
               for x in rr_lines(workdir / "var" / "logs"))  # fmt: skip


def test_bentoml_timeouts_are_counted_on_other_paths(service):
    """An admin call that stalls its body is answered by BentoML's timeout (504): counted."""
    base, _ = service
    port = int(base.rsplit(":", 1)[1])
    before = counted(base, "/admin/promote", 504)
    sock = raw_request(port, "/admin/promote", 40, b'{"ver', f"X-Admin-Token: {ADMIN_TOKEN}\r\n")
    status, waited = read_status(sock)
    assert status == 504 and 8 < waited < 20, (status, waited)
    assert counted(base, "/admin/promote", 504) == before + 1


def test_bentoml_timeouts_of_the_api_are_counted_and_logged(tmp_path_factory, item_knn):
    """With a body timeout longer than BentoML's (10 s), its 504 is still seen by nbrec."""
    workdir, running = start(tmp_path_factory, item_knn, {"NBREC_BODY_TIMEOUT": "30"})
    with running as base:
        port = int(base.rsplit(":", 1)[1])
        status, waited = read_status(raw_request(port, "/feedback", 80, b'{"user_id"'))
        assert status == 504 and 8 < waited < 20, (status, waited)
        assert counted(base, "/feedback", 504) == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = [x for x in rr_lines(workdir / "var" / "logs") if x.get("status") == 504]
            if lines:
                break
            time.sleep(0.2)
        assert lines and lines[0]["endpoint"] == "/feedback"
