"""The request path's own Redis exchange, on a real redis-server: the same replies as redis-py,
no reply ever read for the wrong request (timeouts, errors), a closed connection reconnected."""

from __future__ import annotations

import socket
import struct
import time

import pytest
import redis
from redis._parsers import _RESP2Parser

from nbrec.store.redis_clients import RedisClients
from nbrec.store.redis_exchange import Exchange, pack


@pytest.fixture
def clients(redis_url):
    found = RedisClients(redis_url, timeout=2.0, request_timeout=0.2)
    plain = redis.Redis.from_url(redis_url)
    plain.delete("x:{u1}:recs", "x:{u1}:seen", "x:{u2}:seen")
    plain.hset("x:{u1}:recs", "u1", b"\x00\x01binary\r\n")
    plain.rpush("x:{u1}:seen", "a", "b", "c")
    plain.rpush("x:{u2}:seen", "d")
    yield found
    found.close()


READS = (("HGET", "x:{u1}:recs", "u1"), ("LRANGE", "x:{u1}:seen", 0, 99))


def test_replies_equal_redis_pys(clients, redis_url):
    pipe = redis.Redis.from_url(redis_url).pipeline(transaction=False)
    for command in READS:
        pipe.execute_command(*command)
    assert clients.round_trip("x:{u1}:seen", *READS) == pipe.execute()
    assert clients.round_trip("x:{u1}:seen", ("HGET", "x:{u1}:recs", "nobody")) == [None]
    assert (
        pack((("LRANGE", "k", 0, -1),))
        == b"*4\r\n$6\r\nLRANGE\r\n$1\r\nk\r\n$1\r\n0\r\n$2\r\n-1\r\n"
    )


def test_a_timeout_drops_the_connection_and_the_late_reply_with_it(clients, redis_url):
    assert clients.round_trip("x:{u1}:seen", *READS)[1] == [b"a", b"b", b"c"]
    redis.Redis.from_url(redis_url).client_pause(500, all=True)  # the server holds replies
    start = time.monotonic()
    with pytest.raises(redis.TimeoutError):  # 0.2 s budget, no second try
        clients.round_trip("x:{u1}:seen", ("LRANGE", "x:{u1}:seen", 0, 99))
    assert 0.15 < time.monotonic() - start < 0.38
    time.sleep(0.4)
    # The late reply (u1's list) must not answer the next request (u2's).
    assert clients.round_trip("x:{u2}:seen", ("LRANGE", "x:{u2}:seen", 0, 99)) == [[b"d"]]


def test_an_error_reply_raises_and_the_next_call_is_clean(clients):
    with pytest.raises(redis.ResponseError):  # WRONGTYPE: a list read as a hash
        clients.round_trip("x:{u1}:seen", ("HGET", "x:{u1}:seen", "f"), READS[1])
    assert clients.round_trip("x:{u1}:seen", READS[1]) == [[b"a", b"b", b"c"]]


def test_a_connection_the_server_closed_is_reconnected(clients, redis_url):
    assert clients.round_trip("x:{u1}:seen", READS[1]) == [[b"a", b"b", b"c"]]
    killed = redis.Redis.from_url(redis_url).client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert clients.round_trip("x:{u1}:seen", READS[1]) == [[b"a", b"b", b"c"]]


def test_without_hiredis_it_leaves_the_pool_to_redis_py(redis_url):
    pool = redis.ConnectionPool.from_url(redis_url, parser_class=_RESP2Parser)
    assert Exchange().send(pool, READS) is None


def test_the_request_timeout_is_kept_by_the_kernel(clients):
    """No poll before every send and recv: the socket blocks, with the request budget (0.2 s)
    as its kernel timeouts."""
    assert clients.round_trip("x:{u1}:seen", READS[1]) == [[b"a", b"b", b"c"]]
    (conn,) = clients._exchange._all
    sock = conn._sock
    assert sock.gettimeout() is None
    for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
        assert struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, option, 16)) == (0, 200_000)
