"""The RR log writer: one JSON line per request, feedback and exposure event (``schema``).

The request path only puts a dict on a bounded queue (never blocks, never raises); a
background thread serialises and writes. When the queue is full the line is dropped and
counted (``nbrec_log_lines_dropped_total``). Files: ``<log_dir>/rr-<start>-<pid>.jsonl``,
rotated by size to ``rr-<start>-<pid>.<n>.jsonl`` with n = 1, 2, 3, ...; or stdout. The writer
never renames a rotated file again and never deletes one: ``nbrec ingest`` archives closed files
into the warehouse and deletes them only then (``nbrec.events.rr_archive``), so no log file
disappears unarchived; the archive lag is a metric and an alert.

A log disk that is full or unwritable never reaches the request path: the lines of a failed
write are dropped and counted, the rest wait in the queue, and the file is reopened a second
later. User ids can be logged plain, as a salted hash (HMAC-SHA256) or not at all
(``NBREC_LOG_USER_IDS``, ``NBREC_LOG_USER_SALT``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from nbrec.rrlog.schema import iso_utc

MAX_BYTES = 50 * 1024 * 1024
QUEUE_SIZE = 20_000
CHUNK_BYTES = 64 * 1024
REOPEN_AFTER = 1.0  # seconds between attempts to reopen a log file that failed
USER_ID_MODES = ("plain", "hash", "drop")
logger = logging.getLogger("nbrec.rrlog")


def _rotated_name(default_name: str) -> str:
    # rr-x.jsonl.3 -> rr-x.3.jsonl: rotated files keep matching rr-*.jsonl
    base, _, number = default_name.rpartition(".")
    return f"{base.removesuffix('.jsonl')}.{number}.jsonl"


class _NumberedRotation(logging.handlers.RotatingFileHandler):
    """Size rotation to ``rr-<start>-<pid>.<n>.jsonl``, n growing: nothing is shifted or deleted
    (the stock handler renames every backup on each rotation and deletes the oldest)."""

    rotations = 0

    def doRollover(self) -> None:  # noqa: N802 - the logging API's name
        if self.stream:
            self.stream.close()
            self.stream = None
        self.rotations += 1
        os.replace(self.baseFilename, _rotated_name(f"{self.baseFilename}.{self.rotations}"))
        self.stream = self._open()


class RRLogger:
    """Non-blocking JSON-lines writer. ``directory=None`` writes to stdout.

    The request path appends to a deque (atomic, no lock, no wake-up of the writer); the
    writer thread wakes every ``interval`` seconds and writes everything queued in one call.
    Waking per line would hand the GIL back and forth on every request.
    """

    def __init__(
        self,
        directory: str | Path | None,
        max_bytes: int = MAX_BYTES,
        queue_size: int = QUEUE_SIZE,
        on_drop: Callable[[], None] | None = None,
        interval: float = 0.05,
        user_ids: str | None = None,
        salt: str | None = None,
    ):
        if user_ids is None or salt is None:
            from nbrec.settings import get_settings

            settings = get_settings()
            user_ids = settings.log_user_ids if user_ids is None else user_ids
            salt = settings.log_user_salt if salt is None else salt
        if user_ids not in USER_ID_MODES:
            raise ValueError(
                f"NBREC_LOG_USER_IDS={user_ids!r} is not one of {USER_ID_MODES}: "
                "plain keeps user ids, hash logs a salted hash, drop logs none"
            )
        self.user_ids = user_ids
        self._salt = salt.encode()
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes = max_bytes
        self.queue_size = queue_size
        self.on_drop = on_drop
        self.interval = interval
        self.dropped = 0
        self.written = 0
        self._pending: deque[tuple[float, dict[str, Any]]] = deque()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.path: Path | None = None

    def log(self, event: dict[str, Any]) -> None:
        """Queue one event (``ts`` is added if missing). Never blocks; drops when full."""
        if self._thread is None:
            self._start()
        if len(self._pending) >= self.queue_size:
            self._drop(1)
            return
        # The clock is read here, formatted in the writer thread.
        self._pending.append((time.time(), event))

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self.on_drop is not None:
            for _ in range(n):
                self.on_drop()

    def _handler(self) -> logging.Handler:
        if self.directory is None:
            return logging.StreamHandler(sys.stdout)
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.path = self.directory / f"rr-{stamp}-{os.getpid()}.jsonl"
        handler = _NumberedRotation(self.path, maxBytes=self.max_bytes, encoding="utf-8")
        return handler

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="nbrec-rr-log", daemon=True)
            self._thread.start()

    def _open(self) -> logging.Handler | None:
        """The log handler, or None (and a warning) when the log directory is unusable."""
        try:
            handler = self._handler()
        except OSError as exc:
            logger.warning("RR log unavailable (%s); retrying every %gs", exc, REOPEN_AFTER)
            return None
        handler.setFormatter(logging.Formatter("%(message)s"))
        return handler

    def _run(self) -> None:
        handler, retry_at = None, 0.0
        while True:
            stopping = self._stop.wait(self.interval)
            self._idle.clear()
            if handler is None and self._pending and time.monotonic() >= retry_at:
                handler = self._open()
                retry_at = time.monotonic() + REOPEN_AFTER
            if handler is not None and self._pending:
                try:
                    self._write_pending(handler)
                except OSError as exc:  # disk full, file gone read-only, ...
                    logger.warning("RR log write failed (%s); lines dropped and counted", exc)
                    _close_quietly(handler)
                    handler, retry_at = None, time.monotonic() + REOPEN_AFTER
            elif self._pending:
                # No usable file: count the lines now (the drop counter is what alerts)
                # rather than hold them until the queue overflows.
                n = len(self._pending)
                for _ in range(n):
                    self._pending.popleft()
                self._drop(n)
            self._idle.set()
            if stopping:
                break
        if handler is not None:
            _close_quietly(handler)

    def _private(self, event: dict[str, Any]) -> None:
        """Apply the user-id policy (in the writer thread: the request path pays nothing)."""
        user = event.get("user_id")
        if user is None or self.user_ids == "plain":
            return
        if self.user_ids == "drop":
            event["user_id"] = None
        else:  # a keyed hash: stable per user (joins still work), not reversible without the salt
            digest = hmac.new(self._salt, str(user).encode(), hashlib.sha256).hexdigest()
            event["user_id"] = digest[:32]

    def _write_pending(self, handler: logging.Handler) -> None:
        lines = []
        while self._pending:
            stamp, event = self._pending.popleft()
            event.setdefault("ts", iso_utc(stamp))
            self._private(event)
            try:
                lines.append(orjson.dumps(event, default=str).decode())
            except Exception:  # an unserialisable event must not kill the writer
                self._drop(1)
        if not lines:
            return
        rotating = isinstance(handler, logging.handlers.RotatingFileHandler)
        # Chunks of up to chunk_bytes: one rollover check and one write per chunk, not per line.
        chunk_bytes = max(1, min(CHUNK_BYTES, self.max_bytes // 8)) if rotating else 1 << 62
        chunks: list[list[str]] = [[]]
        size = 0
        for line in lines:
            if size >= chunk_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(line)
            size += len(line) + 1
        for n, chunk in enumerate(chunks):
            text = "\n".join(chunk)
            try:
                if rotating and handler.shouldRollover(logging.makeLogRecord({"msg": text})):
                    handler.doRollover()
                handler.stream.write(text + "\n")
                handler.flush()
            except (OSError, ValueError) as exc:  # ValueError: file closed by a failed rollover
                # This chunk may be half written: count it and every later one as dropped.
                self._drop(sum(len(c) for c in chunks[n:]))
                raise OSError(f"cannot write RR log lines: {exc}") from None
            self.written += len(chunk)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the lines queued so far are written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while (self._pending or not self._idle.is_set()) and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (or count it dropped) and stop the writer."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None


def _close_quietly(handler: logging.Handler) -> None:
    # Closing flushes, which fails on the same full disk.
    with contextlib.suppress(OSError, ValueError):
        handler.close()
