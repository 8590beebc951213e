"""The durable event intake: one protocol, group commit, and the backend chosen by URL.

``submit`` hands an event to a writer thread and returns a future that completes once the
event is durable (committed and fsynced by SQLite, or written to a Redis that fsyncs its
AOF). The writer takes *everything* queued when it wakes and commits it as one batch: one
transaction and one fsync for many requests (group commit, as PostgreSQL's WAL writer does,
with no added delay: ``commit_delay`` 0). While a batch commits, new events queue for the
next one, so an event waits at worst for the commit in progress plus its own: about two
fsyncs. A caller that cannot wait that long (deadline), a full backlog or a failing disk get
:class:`JournalUnavailable`; the HTTP layer answers 503 with ``Retry-After``.

The ingester (``nbrec.events.ingest``) reads the oldest unacknowledged events in batches and
acknowledges them only after they are in the warehouse; nothing is removed before that.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol

from nbrec.events.schema import encode

log = logging.getLogger(__name__)
MAX_BATCH = 4096  # events per commit
MAX_PENDING = 50_000  # events waiting for a commit before submit refuses (backpressure)


class JournalUnavailable(RuntimeError):
    """The event could not be made durable in time: the client should retry later (503)."""


@dataclass
class JournalBatch:
    """Events read for ingestion: their raw payloads and what ``ack`` needs to remove them."""

    payloads: list[bytes]
    token: Any = None
    ids: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.payloads)


class EventJournal(Protocol):
    """What the service appends to and the ingester drains (``nbrec.events.open_journal``)."""

    backend: str

    def submit(self, event: dict[str, Any]) -> Future: ...
    def append(self, event: dict[str, Any], timeout: float = 1.0) -> None: ...
    def read(self, limit: int) -> JournalBatch: ...
    def ack(self, batch: JournalBatch) -> None: ...
    def pending(self) -> int: ...
    def close(self) -> None: ...


class GroupCommitter:
    """A writer thread committing queued items in batches; each item's future says when."""

    def __init__(
        self,
        commit: Callable[[Sequence[tuple[str, bytes]]], None],
        name: str,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
    ):
        self._commit = commit
        self.name, self.max_batch, self.max_pending = name, max_batch, max_pending
        self._queue: deque[tuple[tuple[str, bytes], Future]] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0  # commits done (the group-commit ratio is events / batches)
        self.committed = 0

    def submit(self, event: dict[str, Any]) -> Future:
        if self._closed:
            raise JournalUnavailable(f"the {self.name} journal is closed")
        if len(self._queue) >= self.max_pending:
            raise JournalUnavailable(
                f"the {self.name} journal has {len(self._queue)} events waiting for a commit"
            )
        if self._thread is None:
            self._start()
        future: Future = Future()
        self._queue.append(((event["event_id"], encode(event)), future))
        self._wake.set()
        return future

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"nbrec-journal-{self.name}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))
                ]
                try:
                    self._commit([item for item, _ in batch])
                except Exception as exc:  # disk full, database locked, Redis down, ...
                    log.warning(
                        "%s journal commit of %d events failed: %s", self.name, len(batch), exc
                    )
                    error = JournalUnavailable(f"the {self.name} journal could not commit: {exc}")
                    for _, future in batch:
                        _settle(future, error)
                    continue
                self.batches += 1
                self.committed += len(batch)
                for _, future in batch:
                    _settle(future, None)
            if self._closed:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is queued, then stop the writer."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _settle(future: Future, error: Exception | None) -> None:
    # A caller past its deadline may have cancelled the future (asyncio.wait_for does): the
    # event is committed all the same; its retry, with the same event_id, is deduplicated.
    if future.cancelled():
        return
    try:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


def wait_durable(future: Future, timeout: float) -> None:
    """Block until ``future`` completes; :class:`JournalUnavailable` past the deadline."""
    try:
        future.result(timeout)
    except FutureTimeout:
        raise JournalUnavailable(f"the event was not durable within {timeout:g}s") from None
