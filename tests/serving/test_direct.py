"""An API answer written directly (``nbrec.serving.direct``) is byte for byte what uvicorn's h11
protocol writes for the same answer, in one write, and leaves the connection in the state
uvicorn's own ``send`` would: kept alive for the next (pipelined) request, closed when the
request asked for it or spoke HTTP/1.0 (those take uvicorn's way)."""

from __future__ import annotations

import asyncio

import h11
import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from nbrec.serving import direct
from nbrec.serving.direct import respond

BODY = b'{"items": [], "request_id": "r1"}'
JSON = (b"content-type", b"application/json")
DEFAULTS = [(b"date", b"Tue, 01 Dec 2026 22:00:00 GMT"), (b"server", b"uvicorn")]


def request(*headers: bytes, version: bytes = b"1.1", method: bytes = b"POST") -> bytes:
    head = b"%s /recommend HTTP/%s\r\nhost: t\r\ncontent-type: application/json\r\n" % (
        method, version,
    )  # fmt: skip
    return head + b"".join(h + b"\r\n" for h in headers) + b"content-length: 2\r\n\r\n{}"


class Transport(asyncio.Transport):
    """Records what uvicorn writes (the asyncio transport a socket would have)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5555)}.get(name)

    def write(self, data) -> None:
        if data:
            self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def app(status: int = 200, headers=(), indirect: bool = False):
    """An ASGI app answering through ``respond``; ``indirect``: with a ``send`` that is not
    uvicorn's own (so ``respond`` takes uvicorn's way: two ASGI messages)."""

    async def answer(scope, receive, send) -> None:
        await receive()
        out = (lambda message: send(message)) if indirect else send
        await respond(out, status, [JSON, *headers], BODY)

    return answer


def _connect(asgi, data: bytes) -> tuple[H11Protocol, Transport]:
    """uvicorn's h11 protocol on a recording transport, ``data`` received (call in a loop)."""
    config = Config(app=asgi, lifespan="off", proxy_headers=False)
    config.load()
    state = ServerState()
    state.default_headers = list(DEFAULTS)
    protocol = H11Protocol(config, state, {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    return protocol, transport


async def _serve(asgi, data: bytes, states_out: list | None = None) -> Transport:
    protocol, transport = _connect(asgi, data)
    for _ in range(50):
        await asyncio.sleep(0)
    if states_out is not None:
        states_out.append((protocol.conn.our_state, protocol.conn.their_state))
    transport.closed_by_server = transport.closed  # before the client's side goes
    protocol.connection_lost(None)
    return transport


def serve(asgi, data: bytes, states_out: list | None = None) -> Transport:
    return asyncio.run(_serve(asgi, data, states_out))


def test_the_direct_way_is_available_with_the_installed_uvicorn_and_h11():
    # If an upgrade renames what it relies on, every answer silently takes the slow way: say so.
    assert direct.DIRECT


@pytest.mark.parametrize("name", ["_respond_to_state_changes", "start_next_cycle"])
def test_an_h11_without_what_it_relies_on_is_not_used(monkeypatch, name):
    monkeypatch.delattr(h11.Connection, name)
    assert not direct._works()


@pytest.mark.parametrize(
    ("status", "headers"),
    [(200, []), (422, []), (503, [(b"retry-after", b"1")]), (504, [])],
)
def test_the_bytes_are_uvicorns_in_one_write(status, headers):
    written = serve(app(status, headers), request())
    uvicorns = serve(app(status, headers, indirect=True), request())
    assert len(written.writes) == 1 and len(uvicorns.writes) == 2  # head, body
    assert written.writes[0] == b"".join(uvicorns.writes)
    assert written.writes[0].startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\ndate: Tue, 01 Dec 2026 22:00:00 GMT\r\n" in written.writes[0]
    assert written.writes[0].endswith(b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY))
    assert not written.closed_by_server and not uvicorns.closed_by_server


def test_pipelined_requests_each_get_their_answer_and_the_connection_stays_open():
    states: list = []  # the h11 states after the answers
    written = serve(app(), request() * 3, states)
    assert len(written.writes) == 3 and not written.closed_by_server
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(BODY) for w in written.writes)
    # ready for the next request, as after uvicorn's own answers
    assert states == [(h11.IDLE, h11.IDLE)]


@pytest.mark.parametrize(
    "data", [request(b"connection: close"), request(version=b"1.0")], ids=["close", "http1.0"]
)
def test_a_connection_to_close_takes_uvicorns_way(data):
    written = serve(app(), data)
    uvicorns = serve(app(indirect=True), data)
    assert written.writes == uvicorns.writes and len(written.writes) == 2
    assert b"connection: close\r\n" in written.writes[0].lower()
    assert written.closed_by_server and uvicorns.closed_by_server


def test_nothing_is_written_to_a_client_that_left():
    async def answer(scope, receive, send) -> None:
        await receive()
        send.__self__.disconnected = True  # what uvicorn sets when the connection is lost
        await respond(send, 200, [JSON], BODY)

    assert serve(answer, request()).writes == []


def test_a_slow_reader_is_waited_for():
    async def answer(scope, receive, send) -> None:
        await receive()
        flow = send.__self__.flow
        flow.pause_writing()  # the transport's buffer is full
        asyncio.get_running_loop().call_later(0.01, flow.resume_writing)
        await respond(send, 200, [JSON], BODY)

    async def run() -> Transport:
        _, transport = _connect(answer, request())
        await asyncio.sleep(0.001)
        assert transport.writes == []  # held while writing is paused
        await asyncio.sleep(0.05)
        return transport

    written = asyncio.run(run())
    assert len(written.writes) == 1 and written.writes[0].endswith(BODY)


def test_another_servers_send_gets_the_two_asgi_messages():
    messages: list[dict] = []

    async def send(message) -> None:
        messages.append(message)

    asyncio.run(respond(send, 404, [JSON], BODY))
    assert messages == [
        {"type": "http.response.start", "status": 404,
         "headers": [JSON, (b"content-length", b"%d" % len(BODY))]},
        {"type": "http.response.body", "body": BODY},
    ]  # fmt: skip
