"""In-process copies of what the request path reads from the feature store.

- Top-N lists per (version, user): a published version never changes, so they are kept (LRU,
  bounded) without expiry; a version flip simply reads other keys.
- Recently seen items per user: they change with every ``/feedback``. This process drops a
  user's copy when it takes that user's feedback, so a single worker is always exact; the TTL
  bounds how long feedback sent to *another* replica can go unnoticed here. With it, a cached
  user costs no store round trip at all (on Redis, a loopback round trip is most of the cost).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress

from nbrec.store import Ranked


class LocalCache:
    """Bounded LRU of top-N lists and TTL'd recently-seen lists.

    No lock: the request path runs on the event loop. Calls from other threads are safe (a
    key that vanished in between is ignored), a lost update only costs a store call.
    """

    def __init__(
        self, size: int, seen_ttl: float = 0.0, clock: Callable[[], float] = time.monotonic
    ):
        self.size = size
        self.seen_ttl = seen_ttl
        self.clock = clock
        self._recs: OrderedDict[tuple[str, str], Ranked] = OrderedDict()
        self._seen: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()

    def recs(self, version: str, user_id: str) -> Ranked | None:
        key = (version, user_id)
        found = self._recs.get(key)
        if found is not None:
            with suppress(KeyError):
                self._recs.move_to_end(key)
        return found

    def put_recs(self, version: str, user_id: str, recs: Ranked) -> None:
        self._recs[(version, user_id)] = recs
        if len(self._recs) > self.size:
            with suppress(KeyError):
                self._recs.popitem(last=False)

    def seen(self, user_id: str) -> list[str] | None:
        """The user's recently seen items if copied less than ``seen_ttl`` ago, else None."""
        found = self._seen.get(user_id)
        if found is None or found[0] <= self.clock():
            return None
        return found[1]

    def last_seen(self, user_id: str) -> list[str]:
        """The last copy, however old: better than nothing when the store is down."""
        found = self._seen.get(user_id)
        return found[1] if found is not None else []

    def put_seen(self, user_id: str, seen: list[str]) -> None:
        if self.seen_ttl <= 0:
            return
        self._seen.pop(user_id, None)  # re-inserted at the end: the newest copy
        self._seen[user_id] = (self.clock() + self.seen_ttl, seen)
        if len(self._seen) > self.size:
            with suppress(KeyError):
                self._seen.popitem(last=False)

    def forget_seen(self, user_id: str) -> None:
        """The user just interacted with something: re-read their seen items next time."""
        self._seen.pop(user_id, None)
