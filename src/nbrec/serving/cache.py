"""In-process copies of what the request path reads from the feature store.

- Top-N lists per (version, user): a published version never changes, so they are kept (LRU,
  bounded) without expiry; a version flip simply reads other keys.
- Recently seen items per user are *not* reused between requests: they change with every
  ``/feedback``, which any worker of any replica may take. Every answer reads them from the
  store (in the same round trip as the top-N list, or alone when the list is cached here), so
  an item fed back with a 200 never comes back to that user, whichever worker answers next.
  The last copy read is kept only for answering while the store is down.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress

from nbrec.store import Ranked


class LocalCache:
    """Bounded LRU of top-N lists, plus each user's last read seen items (outages only).

    No lock: the request path runs on the event loop. Calls from other threads are safe (a
    key that vanished in between is ignored), a lost update only costs a store call.
    """

    def __init__(self, size: int):
        self.size = size
        self._recs: OrderedDict[tuple[str, str], Ranked] = OrderedDict()
        self._seen: OrderedDict[str, list[str]] = OrderedDict()

    def recs(self, version: str, user_id: str) -> Ranked | None:
        key = (version, user_id)
        found = self._recs.get(key)
        if found is not None:
            with suppress(KeyError):
                self._recs.move_to_end(key)
        return found

    def put_recs(self, version: str, user_id: str, recs: Ranked) -> None:
        if self.size <= 0:
            return
        self._recs[(version, user_id)] = recs
        if len(self._recs) > self.size:
            with suppress(KeyError):
                self._recs.popitem(last=False)

    def last_seen(self, user_id: str) -> list[str]:
        """The last copy read from the store, however old: better than nothing when it is down."""
        return self._seen.get(user_id, [])

    def put_seen(self, user_id: str, seen: list[str]) -> None:
        if self.size <= 0:
            return
        self._seen[user_id] = seen
        if len(self._seen) > self.size:
            with suppress(KeyError):
                self._seen.popitem(last=False)

    def add_seen(self, user_id: str, item_id: str) -> None:
        """Feedback the store could not take: this worker still leaves the item out."""
        self.put_seen(user_id, [item_id, *self.last_seen(user_id)])
