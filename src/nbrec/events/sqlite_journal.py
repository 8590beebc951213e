"""The embedded journal: an SQLite table in WAL mode under ``var/events/``.

``synchronous=FULL``: a commit returns after the WAL is fsynced, so a committed event
survives a power cut, not only a process crash. Each group commit is one transaction.
The table has no index on ``event_id``: a client's retry is stored again and the ingester
keeps one (it dedupes on ``event_id`` in the batch and against the warehouse); a unique
index would double the cost of every commit and make the ingester's delete five times dearer.
Several service workers may share the file (SQLite serialises writers; ``busy_timeout``
waits for the lock). The ingester deletes rows only after the warehouse has them.

Checkpoints stay off the request path: SQLite's automatic checkpoint runs inside the COMMIT
that crosses 1,000 WAL pages (copying them into the database file and fsyncing it), so every
request waiting on that commit would wait for it too. Here no connection checkpoints on
commit (``wal_autocheckpoint=0``); a thread of the writer's process runs a ``PASSIVE``
checkpoint (it never blocks writers) every ``CHECKPOINT_SECONDS`` after commits, and the
ingester after each acknowledgement.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from nbrec.events.journal import MAX_BATCH, MAX_PENDING, GroupCommitter, JournalBatch, wait_durable

CHECKPOINT_SECONDS = 10.0  # each checkpoint fsyncs the database file: not too often
ROWS_PER_INSERT = 4096  # x 2 bound values: under SQLite's 32,766 (its default since 3.32)
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    payload BLOB NOT NULL
)
"""


class SQLiteJournal:
    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        max_batch: int = MAX_BATCH,
        max_pending: int = MAX_PENDING,
        busy_timeout_ms: int = 5000,
    ):
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._writer = GroupCommitter(self._commit, "sqlite", max_batch, max_pending)
        self._closing = threading.Event()
        self._checkpointer: threading.Thread | None = None

    def _conn(self) -> sqlite3.Connection:
        # One connection per thread: the writer thread's and the ingester's.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints: see the module docstring
            conn.execute(SCHEMA)
            self._local.conn = conn
        return conn

    def _transaction(self, columns: str, rows: Sequence[tuple]) -> None:
        """Insert ``rows`` in one transaction, ``ROWS_PER_INSERT`` rows per statement.

        Multi-row ``INSERT``s, not ``executemany``: the sqlite3 module releases the GIL around
        every statement step, and each time the writer thread takes it back it may wait up to
        the interpreter's switch interval (5 ms) while the event loop runs; a handful of steps
        per commit, not one per event, keeps that off the requests' latency.
        """
        conn, width = self._conn(), len(rows[0]) if rows else 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            for lo in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[lo : lo + ROWS_PER_INSERT]
                values = ",".join([f"({','.join('?' * width)})"] * len(chunk))
                conn.execute(
                    f"INSERT INTO events ({columns}) VALUES {values}",
                    [value for row in chunk for value in row],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # busy or locked: the next one copies it all
            self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpoint_loop(self) -> None:
        done = 0
        while not self._closing.wait(CHECKPOINT_SECONDS):
            if self._writer.batches != done:
                done = self._writer.batches
                self._checkpoint()
        self._close_conn()

    def _commit(self, items: Sequence[tuple[str, bytes]]) -> None:
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="nbrec-journal-checkpoint", daemon=True
            )
            self._checkpointer.start()
        self._transaction("event_id, payload", items)

    # -- the service side --------------------------------------------------------------------
    def submit(self, event: dict[str, Any]) -> Future:
        return self._writer.submit(event)

    def append(self, event: dict[str, Any], timeout: float = 1.0) -> None:
        wait_durable(self.submit(event), timeout)

    # -- the ingester side -------------------------------------------------------------------
    def read(self, limit: int) -> JournalBatch:
        rows = (
            self._conn()
            .execute("SELECT seq, payload FROM events ORDER BY seq LIMIT ?", (limit,))
            .fetchall()
        )
        return JournalBatch(payloads=[p for _, p in rows], token=rows[-1][0] if rows else None)

    def ack(self, batch: JournalBatch) -> None:
        if batch.token is not None:
            self._conn().execute("DELETE FROM events WHERE seq <= ?", (batch.token,))
            self._checkpoint()

    def insert_raw(self, payloads: Sequence[bytes]) -> None:
        """Append payloads as they are (other producers, tests of malformed events)."""
        self._transaction("payload", [(p,) for p in payloads])
        self._checkpoint()

    def pending(self) -> int:
        return self._conn().execute("SELECT count(*) FROM events").fetchone()[0]

    @property
    def stats(self) -> dict[str, int]:
        return {"batches": self._writer.batches, "committed": self._writer.committed}

    def close(self) -> None:
        self._writer.close()
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        self._close_conn()

    def _close_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
