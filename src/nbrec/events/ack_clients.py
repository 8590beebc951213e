"""Clients that post ``/feedback`` until stopped and record every event answered 200.

Each event carries its own ``event_id``, so after the service is SIGKILLed mid-stream and
``nbrec ingest`` has run, the warehouse must hold every recorded id exactly once: how the
durability test (``tests/serving/test_feedback_durable.py``) and the benchmark
(``benchmarks/loop/bench_feedback.py``) check that nothing acknowledged is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence


class AcknowledgedFeedback:
    """``clients`` threads posting click events for ``users`` x ``items`` to the service at ``url``.

    Use as a context manager (threads start on entry and are stopped and joined on exit); a
    client stops by itself when the service is gone.
    """

    def __init__(
        self, url: str, users: Sequence[str], items: Sequence[str], clients: int = 8,
        timeout: float = 5.0,
    ):  # fmt: skip
        self.url, self.users, self.items, self.timeout = url, list(users), list(items), timeout
        self._acknowledged: list[str] = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(clients)]

    def _client(self, n: int) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=self.timeout) as http:
            i = 0
            while not self._stop.is_set():
                event_id = uuid.uuid4().hex
                body = {"user_id": self.users[(n * 7 + i) % len(self.users)],
                        "item_id": self.items[i % len(self.items)], "event": "click",
                        "event_id": event_id}  # fmt: skip
                i += 1
                try:
                    answer = http.post("/feedback", json=body)
                except httpx.TransportError:
                    return  # the service is gone
                if answer.status_code == 200:
                    with self._lock:
                        self._acknowledged.append(event_id)

    @property
    def acknowledged(self) -> list[str]:
        """The event ids answered 200 so far."""
        with self._lock:
            return list(self._acknowledged)

    def wait_for(self, count: int, timeout: float) -> int:
        """Wait until ``count`` events are acknowledged (or ``timeout`` s); the number so far."""
        deadline = time.monotonic() + timeout
        while len(self._acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self._acknowledged)

    def __enter__(self) -> AcknowledgedFeedback:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
