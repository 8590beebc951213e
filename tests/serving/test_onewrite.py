"""An API answer through the fast lane leaves uvicorn in one transport write (head and body
together); uvicorn's own behaviour (two writes) is kept for everything else."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from nbrec.serving.fastlane import FastLane
from nbrec.serving.onewrite import joined_writes

BODY = b'{"items": []}'
REQUEST = (b"POST /recommend HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
           b"content-length: 2\r\n\r\n{}")  # fmt: skip


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


async def answer(scope, receive, send) -> int:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]})  # fmt: skip
    await send({"type": "http.response.body", "body": BODY})
    return 200


async def half_answer(scope, receive, send) -> int:
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-length", b"%d" % len(BODY))]})  # fmt: skip
    raise RuntimeError("a bug after the head")


async def _serve(app, data: bytes) -> Transport:
    config = Config(app=app, lifespan="off", proxy_headers=False)
    config.load()
    protocol = H11Protocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    for _ in range(50):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def _lane(handler) -> FastLane:
    async def stack(scope, receive, send) -> None:  # BentoML's stack: the other requests
        await answer(scope, receive, send)

    return FastLane(stack, {"/recommend": handler}, None, None)


def test_an_api_answer_is_one_write_and_keep_alive_goes_on():
    transport = asyncio.run(_serve(_lane(answer), REQUEST * 2))  # two pipelined requests
    assert len(transport.writes) == 2  # one per answer
    for written in transport.writes:
        assert written.startswith(b"HTTP/1.1 200 OK\r\n") and written.endswith(b"\r\n\r\n" + BODY)
        assert b"content-length: 13\r\n" in written


def test_other_requests_keep_uvicorns_writes():
    other = REQUEST.replace(b"POST /recommend", b"POST /elsewhere")
    transport = asyncio.run(_serve(_lane(answer), other))
    assert [w[-len(BODY) :] == BODY for w in transport.writes] == [False, True]  # head, body


def test_a_head_without_its_body_is_still_written():
    transport = asyncio.run(_serve(_lane(half_answer), REQUEST))
    assert transport.writes and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.closed  # uvicorn closes a connection whose answer was cut short


@pytest.mark.parametrize("send", [None, print, object()])
def test_only_uvicorns_h11_cycle_is_joined(send):
    assert joined_writes(send) is None
