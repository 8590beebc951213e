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
import queue
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

MAX_BYTES = 50 * 1024 * 1024
BACKUPS = 20
QUEUE_SIZE = 20_000
_STOP = object()


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rotated_name(default_name: str) -> str:
    # rr-x.jsonl.3 -> rr-x.3.jsonl: rotated files keep matching rr-*.jsonl
    base, _, number = default_name.rpartition(".")
    return f"{base.removesuffix('.jsonl')}.{number}.jsonl"


class RRLogger:
    """Non-blocking JSON-lines writer. ``directory=None`` writes to stdout."""

    def __init__(
        self,
        directory: str | Path | None,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
        queue_size: int = QUEUE_SIZE,
        on_drop: Callable[[], None] | None = None,
    ):
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes, self.backups = max_bytes, backups
        self.on_drop = on_drop
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.path: Path | None = None

    def log(self, event: dict[str, Any]) -> None:
        """Queue one event (``ts`` is added if missing). Never blocks; drops when full."""
        if self._thread is None:
            self._start()
        event.setdefault("ts", utc_now_iso())
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self.on_drop is not None:
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
            self._thread = threading.Thread(
                target=self._run, args=(handler,), name="nbrec-rr-log", daemon=True
            )
            self._thread.start()

    def _run(self, handler: logging.Handler) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                self._queue.task_done()
                break
            try:
                line = orjson.dumps(event, default=str).decode()
                handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
                self.written += 1
            except Exception:  # a bad event must not kill the writer
                self.dropped += 1
                if self.on_drop is not None:
                    self.on_drop()
            finally:
                self._queue.task_done()
        handler.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until queued lines are written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.002)

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None
