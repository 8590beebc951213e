"""DuckDB over the data loop: archived RR lines and events in the warehouse, plus the JSONL tail.

``connect`` returns a DuckDB connection with three views:

- ``rr``: every RR line: the warehouse's ``rr/`` Parquet plus the log files not archived yet
  (a file whose stem is already in ``rr/`` is skipped, so a crash between archiving and deleting
  counts nothing twice);
- ``events``: the warehouse's acknowledged events (``EVENT_SCHEMA`` plus ``date``);
- ``quarantine``: the rejected events and the expectation each failed.

A view over an empty source has the right columns and no rows. The product dashboard and
``nbrec experiment analyze`` read RR lines through ``rr``. Object-store warehouses are read
through pyarrow datasets (fsspec), so DuckDB needs no extension.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from nbrec.events.rr_archive import ARCHIVE_SCHEMA, read_log
from nbrec.events.schema import EVENT_SCHEMA
from nbrec.events.warehouse import EVENTS, QUARANTINE, RR, Warehouse
from nbrec.rrlog.schema import LOG_PATTERN


def archived_stems(warehouse: Warehouse) -> set[str]:
    return {Path(f).name.removesuffix(".parquet") for f in warehouse.files(RR)}


def tail_files(
    log_dir: str | Path | None, warehouse: Warehouse, pattern: str = LOG_PATTERN
) -> list[Path]:
    """The JSONL log files whose lines are not in the warehouse yet."""
    if log_dir is None or not Path(log_dir).is_dir():
        return []
    done = archived_stems(warehouse)
    return [p for p in sorted(Path(log_dir).glob(pattern)) if p.stem not in done]


def tail_table(
    log_dir: str | Path | None, warehouse: Warehouse, pattern: str = LOG_PATTERN
) -> pa.Table:
    """The not-yet-archived RR lines, in the archive's schema."""
    tables = []
    for path in tail_files(log_dir, warehouse, pattern):
        try:
            tables.append(read_log(path)[0])
        except FileNotFoundError:  # archived (and deleted) while we listed: it is in rr/ now
            continue
    return pa.concat_tables(tables) if tables else ARCHIVE_SCHEMA.empty_table()


def rr_table(
    log_dir: str | Path | None = None, warehouse: Warehouse | str | None = None,
    pattern: str = LOG_PATTERN,
) -> pa.Table:  # fmt: skip
    """Every RR line, archived or not, as one Arrow table (what the ``rr`` view shows)."""
    return connect(log_dir, warehouse, pattern).sql("SELECT * FROM rr").to_arrow_table()


def connect(
    log_dir: str | Path | None = None, warehouse: Warehouse | str | None = None,
    pattern: str = LOG_PATTERN,
):  # fmt: skip
    """A DuckDB connection with the ``rr``, ``events`` and ``quarantine`` views."""
    import duckdb

    if not isinstance(warehouse, Warehouse):
        warehouse = Warehouse(warehouse)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tail = tail_table(log_dir, warehouse, pattern)
    archived = warehouse.dataset(RR)
    con.register("rr_tail", tail)
    if archived is not None:
        con.register("rr_archived", archived)
        # union by name: archives written by older versions may lack a newer column
        con.execute(
            "CREATE VIEW rr AS SELECT * EXCLUDE (date) FROM rr_archived "
            "UNION ALL BY NAME SELECT * FROM rr_tail"
        )
    else:
        con.execute("CREATE VIEW rr AS SELECT * FROM rr_tail")
    for view, kind, empty in (
        ("events", EVENTS, EVENT_SCHEMA.empty_table()),
        ("quarantine", QUARANTINE, None),
    ):
        dataset = warehouse.dataset(kind)
        if dataset is not None:
            con.register(f"{view}_dataset", dataset)
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM {view}_dataset")
        elif empty is not None:
            con.register(f"{view}_dataset", empty)
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM {view}_dataset")
        else:
            con.execute(
                f"CREATE VIEW {view} AS SELECT NULL::VARCHAR payload, "
                "NULL::VARCHAR failed_expectation, NULL::TIMESTAMPTZ quarantined_at WHERE false"
            )
    return con
