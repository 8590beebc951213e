"""The pipeline status file ``var/status/pipeline.json`` (schema agreed with the ops engineer).

``{"last_run": {...}, "last_success_at": iso|null, "runs": {"completed": n, "rejected": n,
"failed": n}, "validation": {"<suite>": {"success", "failed_expectations", "report", "at"}},
"history": [last_run, ...]}`` (the HISTORY most recent runs, newest last),
written atomically (temporary file + rename) so a reader never sees half a file. Updates
(read, change, write) hold an exclusive lock on the status folder: the hourly monitoring and the
daily training run in separate processes and would otherwise lose each other's changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from nbrec.settings import get_settings

STATUSES = ("completed", "rejected", "failed")
HISTORY = 20  # runs kept in "history" (``nbrec status`` shows the latest)


def status_path() -> Path:
    return get_settings().var_dir / "status" / "pipeline.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_status(path: Path | None = None) -> dict:
    """The current status (an empty skeleton when no run has finished yet)."""
    path = path or status_path()
    if path.is_file():
        return json.loads(path.read_text())
    return {
        "last_run": None,
        "last_success_at": None,
        "runs": dict.fromkeys(STATUSES, 0),
        "validation": {},
        "history": [],
    }


def write_status(status: dict, path: Path | None = None) -> Path:
    path = path or status_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pipeline-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(status, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def updating(path: Path | None = None) -> Iterator[dict]:
    """Yield the current status to change in place; written back when the block ends.

    The lock is ``flock`` on the folder itself, so no lock file appears beside the status file.
    """
    path = path or status_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        status = read_status(path)
        yield status
        write_status(status, path)
    finally:
        os.close(folder)  # releases the lock


def record_validation(reports: dict[str, dict], path: Path | None = None) -> dict:
    """Merge ``{suite: report.status()}`` into the status file."""
    with updating(path) as status:
        status["validation"].update(reports)
    return status


def record_run(
    flow_run: str, status: str, started_at: str, version: str | None = None,
    reason: str | None = None, path: Path | None = None,
) -> dict:  # fmt: skip
    """Record the end of a run: last_run, the per-status counter, last_success_at."""
    if status not in STATUSES:
        raise ValueError(f"run status must be one of {STATUSES}, got {status!r}")
    with updating(path) as current:
        finished = now_iso()
        current["last_run"] = {"flow_run": flow_run, "status": status, "started_at": started_at,
                               "finished_at": finished, "version": version, "reason": reason}  # fmt: skip
        current["history"] = [*current.get("history", []), current["last_run"]][-HISTORY:]
        current["runs"][status] = current["runs"].get(status, 0) + 1
        if status == "completed":
            current["last_success_at"] = finished
    return current
