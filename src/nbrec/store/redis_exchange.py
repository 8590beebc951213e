"""The request path's Redis round trip: commands out in one write, replies read with hiredis.

redis-py's own way for a few commands (a pooled connection checked out and back, its checks
of the process id and of unread data, its socket-timeout and retry wrappers, a parser call per
reply) costs about 2.5x the CPU of the exchange itself: measured in process, one ``HGET`` +
``LRANGE`` round trip 120-140 us through the pool against 42-48 us here (load ~7,
benchmarks/serving/RESULTS.md). ``Exchange`` keeps one connection per thread and server,
outside the pool (the request path runs on the event loop's thread), built and connected by
redis-py (URL options, auth, TLS), and exchanges RESP with the socket and the connection's
hiredis reader directly.

Only for read commands whose replies redis-py does not post-process (``HGET``, ``LRANGE``),
and only when the connection parses with hiredis (``_HiredisParser``); otherwise ``send``
returns None and the caller takes redis-py's way. A connection that fails is dropped (the next
call connects again); one that was idle and turns out closed (a Redis restart) is reconnected
once and the reads sent again, as redis-py's retry on a stale pooled connection would.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from typing import Any

import redis
from redis.exceptions import ResponseError

try:  # redis-py's hiredis parser and the marker its reader returns for an incomplete reply
    from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
except ImportError:  # pragma: no cover - another redis-py layout
    _HiredisParser = NOT_ENOUGH_DATA = None

RECV_BYTES = 65536
MAX_HELD = 64  # connections per thread (one per server or cluster node)


def _arg(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return b"%d" % value
    raise TypeError(f"unexpected Redis argument {value!r}")


def pack(commands: tuple[tuple, ...]) -> bytes:
    """RESP arrays of bulk strings, as redis-py packs them."""
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for value in command:
            value = _arg(value)
            out.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(out)


def _kernel_timeouts(sock: socket.socket) -> None:
    """The socket's timeout kept by the kernel (``SO_RCVTIMEO``, ``SO_SNDTIMEO``: a read or
    write past it fails with EAGAIN) instead of by Python, which polls before every ``send`` and
    ``recv`` of a socket with a timeout: two system calls less per round trip. Plain TCP and
    Unix sockets only (TLS keeps Python's way)."""
    timeout = sock.gettimeout()
    if type(sock) is not socket.socket or not timeout:
        return
    seconds = int(timeout)
    value = struct.pack("ll", seconds, int((timeout - seconds) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    sock.settimeout(None)


class Exchange:
    """One connection per (thread, server), kept out of redis-py's pool."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[redis.Connection] = []  # to close them all
        self._lock = threading.Lock()

    def send(self, pool: redis.ConnectionPool, commands: tuple[tuple, ...]) -> list | None:
        """The replies to ``commands``, or None if this pool's connections cannot be used
        here (no hiredis): the caller then uses the pool."""
        held = getattr(self._local, "held", None)
        if held is None or len(held) > MAX_HELD:  # (a cluster whose nodes keep changing)
            for _, stale, _ in (held or {}).values():
                stale.disconnect()
            held = self._local.held = {}
        entry = held.get(id(pool))
        if entry is None or entry[0] is not pool or entry[2] != os.getpid():
            conn = pool.make_connection()
            if _HiredisParser is None or not isinstance(conn._parser, _HiredisParser):
                return None
            entry = held[id(pool)] = (pool, conn, os.getpid())
            with self._lock:
                self._all.append(conn)
        conn = entry[1]
        reused = conn._sock is not None
        try:
            return self._exchange(conn, commands)
        except redis.ConnectionError:
            if not reused:
                raise
        return self._exchange(conn, commands)  # the server closed an idle connection: once more

    @staticmethod
    def _exchange(conn: redis.Connection, commands: tuple[tuple, ...]) -> list:
        try:
            if conn._sock is None:
                conn.connect()
                _kernel_timeouts(conn._sock)
            sock, reader = conn._sock, conn._parser._reader
            sock.sendall(pack(commands))
            replies: list = []
            while len(replies) < len(commands):
                reply = reader.gets()
                if reply is NOT_ENOUGH_DATA:
                    data = sock.recv(RECV_BYTES)
                    if not data:
                        raise redis.ConnectionError("Connection closed by server.")
                    reader.feed(data)
                elif isinstance(reply, ResponseError):
                    raise reply
                else:
                    replies.append(reply)
            return replies
        except BaseException as exc:
            conn.disconnect()  # replies may be left unread on it
            if isinstance(exc, TimeoutError | socket.timeout | BlockingIOError):  # (the kernel's)
                raise redis.TimeoutError("Timeout talking to Redis") from None
            if isinstance(exc, Exception) and not isinstance(exc, redis.RedisError):
                # OSError (a reset connection), hiredis's protocol errors
                raise redis.ConnectionError(f"Error talking to Redis: {exc!r}") from None
            raise

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.disconnect()
