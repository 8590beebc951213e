"""A small closed-loop load for the fault tests: threads posting /recommend, every answer kept."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Answer:
    at: float
    user: str
    status: int
    latency: float
    body: dict = field(repr=False)


class Load:
    """``with Load(url, users) as load: ...``: requests until the block ends."""

    def __init__(self, base: str, users: list[str], threads: int = 2, k: int = 5):
        self.base, self.users, self.k = base, users, k
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]

    def _run(self, n: int) -> None:
        users = itertools.cycle(self.users[n:] + self.users[:n])
        with httpx.Client(base_url=self.base, timeout=5) as client:
            while not self._stop.is_set():
                user = next(users)
                start = time.perf_counter()
                try:
                    r = client.post("/recommend", json={"user_id": user, "k": self.k})
                except httpx.HTTPError as exc:  # a hang (timeout) or a dropped connection
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.answers.append(
                    Answer(time.monotonic(), user, r.status_code, time.perf_counter() - start,
                           r.json())
                )  # fmt: skip

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def since(self, t0: float) -> list[Answer]:
        return [a for a in self.answers if a.at >= t0]

    def wait_for(self, predicate, timeout: float = 15.0) -> Answer:
        """The first answer from now on that satisfies ``predicate``."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for a in self.since(t0):
                if predicate(a):
                    return a
            time.sleep(0.05)
        raise AssertionError(f"no matching answer in {timeout}s; last: {self.answers[-1:]}")
