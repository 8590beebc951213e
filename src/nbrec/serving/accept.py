"""Spread a burst of new connections over the service's workers.

BentoML's workers share one listening socket. When connections arrive together (a load
balancer or a client opening its keep-alive pool), every worker's event loop wakes, and
asyncio's accept handler takes up to ``backlog`` (100) pending connections per wake: the first
worker to run takes them all and keeps them for their lifetime, and the other workers idle
(measured: 16 connections opened at once landed on one of two workers in 3 of 4 runs, and two
workers served 0.98x one worker's requests; when they split, 1.6-1.7x). Here a worker accepts
one connection, then leaves the socket to the others for ``PAUSE_S`` before it accepts again:
a burst alternates between the workers. The socket's listen backlog (the kernel's queue) is
unchanged, and a connection waits at most ``PAUSE_S`` longer to be accepted.
"""

from __future__ import annotations

from asyncio import selector_events

PAUSE_S = 0.002
_MARK = "_nbrec_shared_accepts"


def share_accepts() -> None:
    """In this process, an asyncio server accepts one connection, then pauses ``PAUSE_S``."""
    loop_class = selector_events.BaseSelectorEventLoop
    original = loop_class._start_serving
    if getattr(original, _MARK, False):
        return

    def _start_serving(self, protocol_factory, sock, sslcontext=None, server=None,
                       backlog=100, *rest):  # fmt: skip
        fd = sock.fileno()

        def accept_one() -> None:
            self._accept_connection(protocol_factory, sock, sslcontext, server, 1, *rest)
            self._remove_reader(fd)
            self.call_later(PAUSE_S, listen_again)

        def listen_again() -> None:
            if sock.fileno() == fd and (server is None or server.is_serving()):
                self._add_reader(fd, accept_one)

        self._add_reader(fd, accept_one)

    setattr(_start_serving, _MARK, True)
    loop_class._start_serving = _start_serving
