"""Answers written directly, on the real service (``nbrec serve``) over raw sockets: pipelined
requests each get their own answer on one kept-alive connection, a refused body does not
break the connection, and a client that asks for the connection to close (or speaks HTTP/1.0)
gets its answer and the close."""

from __future__ import annotations

import json
import socket

import pytest

from nbrec.pipeline.publish import publish
from tests.serving.server import running_service

pytestmark = pytest.mark.service


def post(body: dict | bytes, *headers: str, version: str = "1.1") -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"POST /recommend HTTP/{version}", "Host: t", "Content-Type: application/json",
             *headers, f"Content-Length: {len(data)}", "", ""]  # fmt: skip
    return "\r\n".join(lines).encode() + data


class Reader:
    """Reads HTTP/1.1 answers framed by content-length off a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before an answer: {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside a body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        self.sock.settimeout(5)
        return self.buffer == b"" and not self._fill()


@pytest.fixture(scope="module")
def service(tmp_path_factory, item_knn, small_data):
    workdir = tmp_path_factory.mktemp("direct")
    url = f"sqlite:///{workdir / 'features.db'}"
    publish(item_knn, "v1", url, items=small_data.items)
    with running_service(workdir, url) as base:
        yield int(base.rsplit(":", 1)[1]), [str(u) for u in item_knn.user_ids_[:3]]


def connect(port: int) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock, Reader(sock)


def test_pipelined_requests_on_one_connection(service):
    port, users = service
    sock, reader = connect(port)
    with sock:
        sock.sendall(b"".join(post({"user_id": u, "k": 3}) for u in users))
        for user in users:
            status, headers, body = reader.answer()
            assert status == 200 and headers["content-type"] == "application/json"
            assert "date" in headers and len(json.loads(body)["items"]) == 3, user
        sock.sendall(post(b'{"user_id": ') + post({"user_id": users[0], "k": 2}))
        status, _, body = reader.answer()  # a refused body, then the same connection goes on
        assert status == 400 and "not valid JSON" in json.loads(body)["error"]
        status, _, body = reader.answer()
        assert status == 200 and len(json.loads(body)["items"]) == 2


@pytest.mark.parametrize(
    ("headers", "version"), [(("Connection: close",), "1.1"), ((), "1.0")], ids=["close", "http1.0"]
)
def test_a_client_closing_gets_its_answer_then_the_close(service, headers, version):
    port, users = service
    sock, reader = connect(port)
    with sock:
        sock.sendall(post({"user_id": users[0], "k": 3}, *headers, version=version))
        status, answer_headers, body = reader.answer()
        assert status == 200 and len(json.loads(body)["items"]) == 3
        assert answer_headers["connection"].lower() == "close"
        assert reader.closed()
