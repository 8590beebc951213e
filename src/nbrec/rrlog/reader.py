"""Reading RR logs (``rr-*.jsonl``) with DuckDB, and writing simulated rows in their schema.

``read_rr_logs`` gives the experiment analysis its frames: request rows keep what the analysis
needs (``n_items`` instead of the item list); feedback rows are those of the experiment or
answering one of its requests. ``log_files`` finds the files (the product report reads them).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from nbrec.errors import MissingFileError
from nbrec.rrlog.schema import FEEDBACK_COLUMNS, LOG_PATTERN, REQUEST_COLUMNS


def find_log_files(log_dir: str | Path, pattern: str = LOG_PATTERN) -> list[Path]:
    """The RR log files in ``log_dir`` (maybe none)."""
    return sorted(Path(log_dir).glob(pattern))


def log_files(log_dir: str | Path, pattern: str = LOG_PATTERN) -> list[Path]:
    """The RR log files in ``log_dir``; an error saying what to do if there are none."""
    files = find_log_files(log_dir, pattern)
    if not files:
        raise MissingFileError(
            f"no RR logs matching {pattern!r} in {Path(log_dir).resolve()}; point LOG_DIR at the "
            "service's log folder (NBREC_LOG_DIR) or make synthetic ones with "
            "nbrec.monitoring.fake_logs.write_fake_logs"
        )
    return files


def read_rr_logs(
    log_dir: str | Path, experiment: str | None = None, lines=None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(requests, feedback) from every ``rr-*.jsonl`` under ``log_dir``, for one experiment or all.

    ``lines``: the RR lines as an Arrow table instead (``nbrec.events.reader.rr_table``: the
    warehouse's archived lines plus the JSONL tail); ``log_dir`` is then only named in errors.
    """
    import duckdb

    files = (
        []
        if lines is not None
        else [str(p) for p in find_log_files(log_dir) if p.stat().st_size > 0]
    )
    if not files and (lines is None or lines.num_rows == 0):
        raise MissingFileError(
            f"no RR logs (rr-*.jsonl) under {log_dir}: run the service (or `nbrec simulate`) first, "
            "or point NBREC_LOG_DIR at the folder the service writes to"
        )
    con = duckdb.connect()
    try:
        _logs_view(con, files, lines)
        present = {row[0] for row in con.execute("DESCRIBE logs").fetchall()}
        requests = _select(con, present, "request", REQUEST_COLUMNS, experiment)
        feedback = _select(con, present, "feedback", FEEDBACK_COLUMNS, None)
    finally:
        con.close()
    if experiment is not None and not feedback.empty:
        mine = feedback["experiment"].eq(experiment) | feedback["request_id"].isin(
            requests["request_id"]
        )
        feedback = feedback[mine]
    return requests.reset_index(drop=True), feedback.reset_index(drop=True)


def read_interleaved(log_dir: str | Path, experiment: str, lines=None) -> pd.DataFrame:
    """An interleaving experiment's answers: request_id, user_id, items and teams, as logged.

    ``lines`` as for ``read_rr_logs`` (the warehouse's archived lines plus the JSONL tail).
    """
    import duckdb

    columns = ["request_id", "user_id", "items", "teams"]
    files = [] if lines is not None else [str(p) for p in find_log_files(log_dir)
                                          if p.stat().st_size > 0]  # fmt: skip
    if not files and (lines is None or lines.num_rows == 0):
        return pd.DataFrame(columns=columns)
    con = duckdb.connect()
    try:
        _logs_view(con, files, lines)
        present = {row[0] for row in con.execute("DESCRIBE logs").fetchall()}
        if not {"kind", "experiment", "teams"} <= present:
            return pd.DataFrame(columns=columns)
        frame = con.execute(
            "SELECT request_id, user_id, items, teams FROM logs WHERE kind = 'request' "
            "AND experiment = ? AND teams IS NOT NULL AND status = 200",
            [experiment],
        ).df()
    finally:
        con.close()
    for col in ("items", "teams"):
        frame[col] = frame[col].map(list)
    return frame


def _select(
    con, present: set[str], kind: str, columns: list[str], experiment: str | None
) -> pd.DataFrame:
    if "kind" not in present:
        return pd.DataFrame(columns=columns)
    parts = []
    for col in columns:
        if col == "n_items":
            parts.append("len(items) AS n_items" if "items" in present else "NULL AS n_items")
        else:
            parts.append(f'"{col}"' if col in present else f'NULL AS "{col}"')
    where, params = "kind = ?", [kind]
    if experiment is not None:
        if "experiment" not in present:
            return pd.DataFrame(columns=columns)
        where, params = where + " AND experiment = ?", [kind, experiment]
    return con.execute(f"SELECT {', '.join(parts)} FROM logs WHERE {where}", params).df()


def write_rr_logs(
    requests: pd.DataFrame, feedback: pd.DataFrame, log_dir: str | Path, name: str = "sim"
) -> Path:
    """Write simulated rows as an RR log file (``rr-<name>.jsonl``), the schema the service writes."""
    path = Path(log_dir) / f"rr-{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat()
    with path.open("w") as out:
        for frame in (requests, feedback):
            for record in frame.to_dict(orient="records"):
                record.setdefault("ts", now)
                record.setdefault("model_version", None)
                record.pop("n_items", None)
                out.write(json.dumps(record, default=_plain) + "\n")
    return path


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to an RR log")


def _logs_view(con, files: list[str], lines) -> None:
    """A view ``logs`` over the given Arrow ``lines`` or else the JSONL ``files``."""
    if lines is not None:
        con.register("rr_lines", lines)
        con.execute("CREATE TEMP VIEW logs AS SELECT * FROM rr_lines")
        return
    # A view cannot take prepared parameters: the paths go in as quoted SQL literals.
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"CREATE TEMP VIEW logs AS SELECT * FROM read_json([{quoted}], "
        "format='newline_delimited', union_by_name=true, ignore_errors=true)"
    )
