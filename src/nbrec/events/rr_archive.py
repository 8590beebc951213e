"""Archive closed RR log files into ``$NBREC_WAREHOUSE/rr/date=.../`` as Parquet.

A log file is *closed* when the writer rotated it (``rr-<start>-<pid>.<n>.jsonl``; rotated
files are never renamed again) or when the process that wrote it is gone. Each closed file
becomes ``rr/date=D/<file stem>.parquet`` per UTC date of its lines (same name on a second
try: re-archiving replaces, never duplicates); only then is the JSONL file deleted. The writer
itself deletes nothing, so no log file disappears unarchived. Readers take the warehouse's
``rr/`` plus the JSONL files whose stem has no archive yet (``nbrec.events.reader``).

Lines that cannot be read (a line cut short by a crash) are counted as ``rr_lines_unreadable``.
Log folders are per host: the "process gone" test reads the pid in the file name.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from nbrec.events.warehouse import RR, Warehouse, utc_days
from nbrec.rrlog.schema import LOG_PATTERN

_NAME = re.compile(r"^rr-(?P<start>[^-]+)-(?P<pid>\d+)(?:\.(?P<n>\d+))?\.jsonl$")
IDLE_SECONDS = 60.0  # an active file of a dead process must also be this old (clock slack)
# Every column of an RR line (nbrec's RR log schema) with its Arrow type; others are ignored.
ARCHIVE_SCHEMA = pa.schema([
    ("ts", pa.timestamp("us", tz="UTC")), ("kind", pa.string()), ("request_id", pa.string()),
    ("user_id", pa.string()), ("model_version", pa.string()), ("experiment", pa.string()),
    ("variant", pa.string()), ("k", pa.int32()), ("items", pa.list_(pa.string())),
    ("scores", pa.list_(pa.float64())), ("propensities", pa.list_(pa.float64())),
    ("fallback", pa.string()), ("latency_ms", pa.float64()), ("status", pa.int32()),
    ("endpoint", pa.string()), ("item_id", pa.string()), ("event", pa.string()),
    ("value", pa.float64()), ("event_id", pa.string()), ("policy", pa.string()),
    ("error", pa.string()), ("teams", pa.list_(pa.string())), ("versions", pa.list_(pa.string())),
])  # fmt: skip


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_closed(path: Path, now: float | None = None) -> bool:
    match = _NAME.match(path.name)
    if match is None:
        return False
    if match["n"] is not None:
        return True
    idle = (now or time.time()) - path.stat().st_mtime
    return idle >= IDLE_SECONDS and not _pid_alive(int(match["pid"]))


def unarchived_files(log_dir: str | Path) -> list[Path]:
    """Closed log files still waiting to be archived (the archive deletes what it has)."""
    folder = Path(log_dir)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob(LOG_PATTERN)):
        try:
            if is_closed(path):
                out.append(path)
        except FileNotFoundError:  # archived meanwhile
            continue
    return out


def _read_json(lines: list[bytes]) -> pa.Table:
    return pajson.read_json(
        io.BytesIO(b"\n".join(lines)),
        read_options=pajson.ReadOptions(block_size=1 << 24),
        parse_options=pajson.ParseOptions(
            explicit_schema=ARCHIVE_SCHEMA, unexpected_field_behavior="ignore"
        ),
    )


def read_log(path: Path) -> tuple[pa.Table, int]:
    """(the file's lines as a table of ARCHIVE_SCHEMA, the number of unreadable lines)."""
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    if not lines:
        return ARCHIVE_SCHEMA.empty_table(), 0
    try:  # fast path: the whole file at once
        return _read_json(lines), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    good = []
    for line in lines:  # a line cut short, or a value of another type: find which
        try:
            _read_json([line])
            good.append(line)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    table = _read_json(good) if good else ARCHIVE_SCHEMA.empty_table()
    return table, len(lines) - len(good)


def archive_file(path: Path, warehouse: Warehouse) -> tuple[int, int]:
    """Archive one closed log file and delete it: (lines archived, lines unreadable)."""
    table, unreadable = read_log(path)
    if table.num_rows:
        days = utc_days(table["ts"].fill_null(pa.scalar(0, table["ts"].type)))
        for day in pc.unique(days).to_pylist():
            part = table.filter(pc.equal(days, day))
            warehouse.write(RR, day.isoformat(), f"{path.stem}.parquet", part)
    path.unlink()
    return table.num_rows, unreadable


def archive(log_dir: str | Path, warehouse: Warehouse | None = None) -> dict[str, int]:
    """Archive every closed log file of ``log_dir``; counts for the status file."""
    warehouse = warehouse or Warehouse()
    counts = {"rr_files_archived": 0, "rr_lines_archived": 0, "rr_lines_unreadable": 0}
    for path in unarchived_files(log_dir):
        lines, unreadable = archive_file(path, warehouse)
        counts["rr_files_archived"] += 1
        counts["rr_lines_archived"] += lines
        counts["rr_lines_unreadable"] += unreadable
    return counts
