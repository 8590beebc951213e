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
from datetime import UTC, datetime
from pathlib import Path

from nbrec.jsonfile import locked_json, read_json, write_json
from nbrec.settings import get_settings

STATUSES = ("completed", "rejected", "failed")
HISTORY = 20  # runs kept in "history" (``nbrec status`` shows the latest)


def status_path() -> Path:
    return get_settings().var_dir / "status" / "pipeline.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _empty() -> dict:
    return {
        "last_run": None,
        "last_success_at": None,
        "runs": dict.fromkeys(STATUSES, 0),
        "validation": {},
        "history": [],
    }


def read_status(path: Path | None = None) -> dict:
    """The current status (an empty skeleton when no run has finished yet)."""
    return read_json(path or status_path(), _empty)


def write_status(status: dict, path: Path | None = None) -> Path:
    return write_json(status, path or status_path())


def updating(path: Path | None = None) -> contextlib.AbstractContextManager[dict]:
    """The current status to change in place; written back when the block ends (locked)."""
    return locked_json(path or status_path(), _empty)


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
