"""The production journal: a Redis Stream, drained by the ingester's consumer group.

Each group commit is one pipelined round trip of ``XADD`` commands (no ``MAXLEN``: nothing
is trimmed on the way in). An event is durable when Redis has written it to its AOF: run
Redis with ``appendonly yes`` and ``appendfsync always`` (Redis fsyncs before it replies, and
groups the writes of one event-loop pass into one fsync); with ``everysec`` up to a second
of acknowledged events can be lost when the Redis host crashes (a warning says so at start).

The ingester reads through the consumer group ``nbrec-ingest`` (``XREADGROUP``): first its own
pending entries (read by a run that crashed before acknowledging), then new ones. After the
warehouse has a batch it ``XACK``s and ``XDEL``s it: only ingested entries leave the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from nbrec.events.journal import MAX_BATCH, MAX_PENDING, GroupCommitter, JournalBatch, wait_durable

log = logging.getLogger(__name__)
STREAM = "nbrec:events"
GROUP = "nbrec-ingest"
CONSUMER = "ingester"
FIELD = b"e"


class RedisStreamJournal:
    backend = "redis"

    def __init__(
        self,
        url: str,
        stream: str = STREAM,
        group: str = GROUP,
        consumer: str = CONSUMER,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        socket_timeout: float = 2.0,
    ):
        import redis

        self.url, self.stream, self.group, self.consumer = url, stream, group, consumer
        self.client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._writer = GroupCommitter(self._commit, "redis", max_batch, max_pending)
        self._group_ready = False
        self._reading_pending = True  # the ingester first re-reads what it never acknowledged
        self._checked_aof = False

    def _check_aof(self) -> None:
        self._checked_aof = True
        try:
            config = self.client.config_get("append*")
        except Exception:  # CONFIG is often disabled on managed Redis: say nothing
            return
        if config.get("appendonly") != "yes" or config.get("appendfsync") != "always":
            log.warning(
                "Redis at %s runs with appendonly=%s appendfsync=%s: acknowledged events can be "
                "lost if Redis crashes; set appendonly yes and appendfsync always",
                self.url, config.get("appendonly"), config.get("appendfsync"),
            )  # fmt: skip

    def _ensure_group(self) -> None:
        # Created at id 0 by whichever side comes first, so no entry is ever behind the group.
        if self._group_ready:
            return
        import redis

        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _commit(self, items: Sequence[tuple[str, bytes]]) -> None:
        if not self._checked_aof:
            self._check_aof()
        self._ensure_group()
        pipe = self.client.pipeline(transaction=False)
        for _, payload in items:
            pipe.xadd(self.stream, {FIELD: payload})
        pipe.execute()

    # -- the service side --------------------------------------------------------------------
    def submit(self, event: dict[str, Any]) -> Future:
        return self._writer.submit(event)

    def append(self, event: dict[str, Any], timeout: float = 1.0) -> None:
        wait_durable(self.submit(event), timeout)

    def insert_raw(self, payloads: Sequence[bytes]) -> None:
        """Append payloads as they are (other producers, tests of malformed events)."""
        self._commit([("", p) for p in payloads])

    # -- the ingester side -------------------------------------------------------------------
    def read(self, limit: int) -> JournalBatch:
        self._ensure_group()
        while True:
            start = "0" if self._reading_pending else ">"
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=limit
            )
            entries = reply[0][1] if reply else []
            if entries or not self._reading_pending:
                break
            self._reading_pending = False  # no pending entries left: read new ones
        ids = [entry_id for entry_id, _ in entries]
        # An entry deleted while pending comes back with no fields: nothing to ingest.
        payloads = [fields.get(FIELD, b"") for _, fields in entries if fields]
        return JournalBatch(payloads=payloads, ids=ids)

    def ack(self, batch: JournalBatch) -> None:
        if batch.ids:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, *batch.ids)
            pipe.xdel(self.stream, *batch.ids)
            pipe.execute()

    def pending(self) -> int:
        """Entries not yet ingested (the stream holds only those)."""
        return int(self.client.xlen(self.stream))

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._writer.batches, "committed": self._writer.committed}

    def close(self) -> None:
        self._writer.close()
        self.client.close()
