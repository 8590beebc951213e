"""An API answer written to the connection directly: status line, headers and body in one write.

uvicorn's h11 protocol turns an answer's two ASGI messages into bytes through h11: an
``h11.Response`` event (every header validated by regular expressions, twice), the state
machine, the writers, then a ``Data`` and an ``EndOfMessage`` event, and two socket writes.
For a small JSON answer that is the largest part of the server's CPU per request, nbrec's own
work included (benchmarks/serving/RESULTS.md).

``respond`` writes the same bytes itself when it can tell the exchange is a plain one: uvicorn's
h11 cycle, an HTTP/1.1 request whose body has arrived, a connection kept alive, no upgrade
pending, nothing sent yet. It then moves h11's state machine exactly as sending a ``Response``
and an ``EndOfMessage`` would, and hands the connection back to uvicorn as its own ``send``
does (keep-alive timer, the next pipelined request). The headers are nbrec's, fixed and
well-formed, plus uvicorn's defaults (``date``). Anything else (another server, HTTP/1.0, a
``Connection: close`` request, a client gone) takes uvicorn's ``send`` unchanged.

It relies on uvicorn's ``RequestResponseCycle`` and on two names inside ``h11.Connection``
(``_cstate``, ``_respond_to_state_changes``), checked once at import on a throwaway
connection: if they no longer work, every answer takes the normal way (``DIRECT`` is False).
tests/serving/test_direct.py checks the bytes are the ones uvicorn writes, byte for byte, and
the connection's life afterwards.
"""

from __future__ import annotations

from typing import Any

try:  # uvicorn's HTTP/1.1 implementation on h11 (the one BentoML's workers run here)
    import h11
    from uvicorn.protocols.http.flow_control import CLOSE_HEADER
    from uvicorn.protocols.http.h11_impl import STATUS_PHRASES
    from uvicorn.protocols.http.h11_impl import RequestResponseCycle as _H11Cycle
    from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
except ImportError:  # pragma: no cover - another server
    h11 = _H11Cycle = STATUS_PHRASES = None

_STATUS_LINES = {
    status: b"HTTP/1.1 %d %s\r\n" % (status, phrase)
    for status, phrase in (STATUS_PHRASES or {}).items()
}
_defaults: list = [None, b""]  # uvicorn's default headers last seen, and their bytes


def _advance(conn: Any) -> None:
    """Move h11's state machine as sending a ``Response`` and an ``EndOfMessage`` would."""
    state = conn._cstate
    before = dict(state.states)
    state.process_event(h11.SERVER, h11.Response)  # SEND_RESPONSE -> SEND_BODY
    state.process_event(h11.SERVER, h11.EndOfMessage)  # -> DONE (MUST_CLOSE if not kept alive)
    conn._respond_to_state_changes(before)
    conn.client_is_waiting_for_100_continue = False


def _works() -> bool:
    """True if the installed h11 still has what ``_advance`` and ``_plain`` use: a request and
    an answer on a throwaway connection leave it ready for the next request."""
    if _H11Cycle is None:
        return False
    try:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n")
        while conn.next_event() not in (h11.PAUSED, h11.NEED_DATA):
            pass
        ready = conn._cstate.keep_alive and not conn._cstate.pending_switch_proposals
        _advance(conn)
        conn.start_next_cycle()
    except (AttributeError, TypeError, h11.ProtocolError):
        return False
    return bool(ready) and conn.our_state is h11.IDLE and conn.their_state is h11.IDLE


DIRECT = _works()  # else every answer takes uvicorn's way


async def respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Send the answer: ``status``, ``headers`` (lower-case names; ``content-length`` is added)
    and ``body``, written directly when the exchange allows it, else through ``send``."""
    cycle = getattr(send, "__self__", None)
    if DIRECT and type(cycle) is _H11Cycle and _plain(cycle, status):
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()  # the client reads slowly: wait, as uvicorn's send does
        if not cycle.disconnected:
            _write(cycle, status, headers, body)
        return
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _plain(cycle: Any, status: int) -> bool:
    """True if uvicorn's ``send`` would write this answer with no framing decision to make."""
    conn = cycle.conn
    return (
        not cycle.response_started
        and cycle.keep_alive
        and conn.our_state is h11.SEND_RESPONSE
        and conn.their_state is h11.DONE  # the whole request read
        and conn.their_http_version == b"1.1"
        and conn._cstate.keep_alive
        and not conn._cstate.pending_switch_proposals
        and CLOSE_HEADER not in cycle.scope["headers"]
        and cycle.scope["method"] != "HEAD"
        and status in _STATUS_LINES
    )


def _write(cycle: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """What uvicorn's ``send`` does for a start and a final body message, with h11's work done
    here: the bytes h11 would write and the state changes it would make."""
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    if cycle.access_log:
        scope = cycle.scope
        cycle.access_logger.info(
            '%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
            get_path_with_query_string(scope), scope["http_version"], status,
        )  # fmt: skip
    head = _STATUS_LINES[status]
    defaults = cycle.default_headers  # a new list from uvicorn every second (its date header)
    if defaults is not _defaults[0]:
        _defaults[:] = [defaults, b"".join(b"%s: %s\r\n" % pair for pair in defaults)]
    own = b"".join(b"%s: %s\r\n" % pair for pair in headers)
    data = b"%s%s%scontent-length: %d\r\n\r\n%s" % (head, _defaults[1], own, len(body), body)
    conn = cycle.conn
    _advance(conn)
    cycle.response_complete = True
    cycle.message_event.set()
    cycle.transport.write(data)
    if conn.our_state is h11.MUST_CLOSE or not cycle.keep_alive:
        conn.send(h11.ConnectionClosed())
        cycle.transport.close()
    cycle.on_response()
