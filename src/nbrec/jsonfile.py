"""JSON state files shared between processes: atomic writes and locked read-change-write.

A writer puts the document in a temporary file beside the target and renames it into place,
so a reader never sees half a file. An update (read, change, write) holds an exclusive
``flock`` on the file's folder, so two processes (the hourly monitoring and the daily
training; two ``nbrec ingest`` passes) never lose each other's changes; locking the folder
itself leaves no lock file beside the document.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def read_json(path: Path, default: Callable[[], dict]) -> dict:
    """The document at ``path``, or ``default()`` when there is none yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default()


def write_json(document: dict, path: Path) -> Path:
    """Write ``document`` to ``path`` atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def locked_json(path: Path, default: Callable[[], dict]) -> Iterator[dict]:
    """Yield the document at ``path`` (or ``default()``) to change in place; written back
    atomically when the block ends, all under an exclusive lock on the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        document = read_json(path, default)
        yield document
        write_json(document, path)
    finally:
        os.close(folder)  # releases the lock
