"""An API answer leaves in one system call: status line, headers and body together.

uvicorn's h11 protocol writes the response head to the socket when the app sends
``http.response.start`` and the body when it sends ``http.response.body``: two ``send()`` calls
per answer. On loopback a ``send()`` also does the receiver's TCP work; each was ~15% of a
request's CPU in the serving benchmark (benchmarks/serving/RESULTS.md). For the API paths
(one start, one body, small) ``joined_writes`` lets uvicorn build both exactly as before and
holds the head until the body's write, so both go out together. Nothing else changes: the same
bytes in the same order, uvicorn's keep-alive and flow control untouched.

It relies on uvicorn's h11 ``RequestResponseCycle`` (``send`` bound to it, writing through its
``transport`` attribute): for any other server it does nothing (``joined_writes`` returns None).
"""

from __future__ import annotations

from typing import Any

try:  # uvicorn's HTTP/1.1 implementation on h11 (the one BentoML's workers run here)
    from uvicorn.protocols.http.h11_impl import RequestResponseCycle as _H11Cycle
except ImportError:  # pragma: no cover - another server
    _H11Cycle = None


class JoinedWrites:
    """Stands in for the connection's transport during one answer: holds the first write (the
    head) and sends it with the next one (the body) in one ``transport.write``."""

    __slots__ = ("cycle", "transport", "head")

    def __init__(self, cycle: Any) -> None:
        self.cycle = cycle
        self.transport = cycle.transport
        self.head: bytes | None = None
        cycle.transport = self

    def write(self, data: bytes) -> None:
        head = self.head
        if head is None:
            self.head = bytes(data)
            return
        if head:
            self.head = b""
            data = head + data
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:  # is_closing(), close(), ...: the transport's
        return getattr(self.transport, name)

    def close_out(self) -> None:
        """Give the cycle its transport back; a head still held (no body sent) is written."""
        self.cycle.transport = self.transport
        if self.head:
            self.transport.write(self.head)
            self.head = b""


def joined_writes(send: Any) -> JoinedWrites | None:
    """Join the head and body writes of the answer ``send`` belongs to, if it is uvicorn's h11
    cycle (call ``close_out()`` when the answer is done); else None."""
    cycle = getattr(send, "__self__", None)
    if _H11Cycle is None or type(cycle) is not _H11Cycle or cycle.response_started:
        return None
    return JoinedWrites(cycle)
