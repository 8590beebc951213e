"""Request/response (RR) logs: one JSON line per request, feedback and exposure event.

The request path only puts a dict on a bounded queue (never blocks, never raises); a
background thread serialises and writes. When the queue is full the line is dropped and
counted (``nbrec_log_lines_dropped_total``). Files: ``<log_dir>/rr-<start>-<pid>.jsonl``,
rotated by size to ``rr-<start>-<pid>.<n>.jsonl``; or stdout.
"""

from __future__ import annotations

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

MAX_BYTES = 50 * 1024 * 1024
BACKUPS = 20
QUEUE_SIZE = 20_000
CHUNK_BYTES = 64 * 1024


def iso_utc(stamp: float) -> str:
    """Unix time as ISO 8601 UTC with milliseconds: 2026-11-29T08:30:00.123Z."""
    return (
        datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _rotated_name(default_name: str) -> str:
    # rr-x.jsonl.3 -> rr-x.3.jsonl: rotated files keep matching rr-*.jsonl
    base, _, number = default_name.rpartition(".")
    return f"{base.removesuffix('.jsonl')}.{number}.jsonl"


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
        backups: int = BACKUPS,
        queue_size: int = QUEUE_SIZE,
        on_drop: Callable[[], None] | None = None,
        interval: float = 0.05,
    ):
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes, self.backups = max_bytes, backups
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
        handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=self.max_bytes, backupCount=self.backups, encoding="utf-8"
        )
        handler.namer = _rotated_name
        return handler

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            handler = self._handler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, args=(handler,), name="nbrec-rr-log", daemon=True
            )
            self._thread.start()

    def _run(self, handler: logging.Handler) -> None:
        while True:
            stopping = self._stop.wait(self.interval)
            self._idle.clear()
            self._write_pending(handler)
            self._idle.set()
            if stopping:
                break
        handler.close()

    def _write_pending(self, handler: logging.Handler) -> None:
        lines = []
        while self._pending:
            stamp, event = self._pending.popleft()
            event.setdefault("ts", iso_utc(stamp))
            try:
                lines.append(orjson.dumps(event, default=str).decode())
            except Exception:  # an unserialisable event must not kill the writer
                self._drop(1)
        if not lines:
            return
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            # Chunks of up to chunk_bytes: one rollover check and one write per chunk, not per line.
            chunk_bytes = max(1, min(CHUNK_BYTES, self.max_bytes // 8))
            chunk: list[str] = []
            size = 0
            for line in lines:
                chunk.append(line)
                size += len(line) + 1
                if size >= chunk_bytes:
                    self._write_chunk(handler, chunk)
                    chunk, size = [], 0
            if chunk:
                self._write_chunk(handler, chunk)
        else:
            handler.stream.write("\n".join(lines) + "\n")
            handler.flush()
        self.written += len(lines)

    @staticmethod
    def _write_chunk(handler: logging.handlers.RotatingFileHandler, chunk: list[str]) -> None:
        text = "\n".join(chunk)
        if handler.shouldRollover(logging.makeLogRecord({"msg": text})):
            handler.doRollover()
        handler.stream.write(text + "\n")
        handler.flush()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the lines queued so far are written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while (self._pending or not self._idle.is_set()) and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None
