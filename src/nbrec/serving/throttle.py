"""Backoff for wrong admin tokens: a client that keeps guessing is told to wait (429).

Each client (by address) has ``FREE_TRIES`` wrong tokens; every further one doubles the time it
must wait before the next try (1 s, 2 s, 4 s ... up to ``MAX_WAIT``), during which every admin
call from it, right token or not, gets 429 with ``Retry-After``. A right token clears the
count. At full speed a guesser gets a handful of tries a minute instead of ~700 a second. The
state is per worker process and bounded (``MAX_CLIENTS``, the oldest forgotten first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

FREE_TRIES = 5
MAX_WAIT = 300.0  # seconds
MAX_CLIENTS = 10_000


class WrongTokenBackoff:
    def __init__(self, free_tries: int = FREE_TRIES, max_wait: float = MAX_WAIT) -> None:
        self.free_tries = free_tries
        self.max_wait = max_wait
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()  # failures, until
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds ``client`` must still wait (0: it may try)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            _, until = self._clients.get(client, (0, 0.0))
        return math.ceil(until - now) if until > now else 0

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            failures, _ = self._clients.pop(client, (0, 0.0))
            failures += 1
            extra = failures - self.free_tries
            until = now + min(2.0 ** (extra - 1), self.max_wait) if extra > 0 else 0.0
            self._clients[client] = (failures, until)
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
