"""Seconds per stage of a training run: from Prefect's database, the line ``nbrec train``
prints, or the flow's log."""

from __future__ import annotations

import re
from pathlib import Path

STAGES_LINE = re.compile(r"^train stages \(s\): (.*)$", re.M)
TASK_DONE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO\s+\| Task run '([a-z_]+)-[^']*' - Finished")


def stage_seconds(log_text: str) -> dict[str, float]:
    """Seconds per flow task from consecutive 'Finished' lines (tasks run one after another;
    mapped scoring shards are summed into one stage)."""
    stamps = []
    for line in log_text.splitlines():
        match = TASK_DONE.match(line)
        if match:
            h, m, s = match.group(1).split(":")
            stamps.append((int(h) * 3600 + int(m) * 60 + float(s), match.group(2)))
    stages: dict[str, float] = {}
    for (prev, _), (now, name) in zip(stamps, stamps[1:], strict=False):
        stages[name] = stages.get(name, 0.0) + (now - prev) % 86400
    if stamps:
        stages = {stamps[0][1]: float("nan"), **stages}  # the first task's start is not logged
    return stages


def stage_seconds_printed(log_text: str) -> dict[str, float]:
    """Seconds per task from the line ``nbrec train`` prints at the end (``flow_progress``)."""
    found = STAGES_LINE.findall(log_text)
    if not found:
        return {}
    pairs = (part.rsplit(" ", 1) for part in found[-1].split(", "))
    return {name: float(seconds) for name, seconds in pairs}


def stage_seconds_db(prefect_home: Path) -> dict[str, float]:
    """Wall seconds per flow task from the ephemeral Prefect server's database (the union of
    each task name's runs: mapped scoring shards count once, as they ran)."""
    import sqlite3
    from datetime import datetime as dt

    db = prefect_home / "prefect.db"
    if not db.is_file():
        return {}
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT name, start_time, end_time FROM task_run "
                           "WHERE start_time IS NOT NULL ORDER BY start_time").fetchall()  # fmt: skip
    spans: dict[str, list] = {}
    for name, start, end in rows:
        spans.setdefault(name.rsplit("-", 1)[0], []).append(
            (dt.fromisoformat(start), dt.fromisoformat(end or start))
        )
    return {stage: union_seconds(intervals) for stage, intervals in spans.items()}


def union_seconds(intervals: list) -> float:
    """Length of the union of (start, end) intervals: parallel shards count once, two separate
    runs of one task (validate_recommendations before and after publish) add up."""
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current and start <= current[1]:
            current[1] = max(current[1], end)
            continue
        if current:
            total += (current[1] - current[0]).total_seconds()
        current = [start, end]
    return total + ((current[1] - current[0]).total_seconds() if current else 0.0)
