"""The warehouse: hive-partitioned Parquet under ``$NBREC_WAREHOUSE`` (default ``var/warehouse``).

Layout::

    events/date=YYYY-MM-DD/part-<hash>.parquet      acknowledged events (EVENT_SCHEMA)
    rr/date=YYYY-MM-DD/<log file>.parquet           archived RR log lines (nbrec.events.rr_archive)
    quarantine/date=YYYY-MM-DD/q-<hash>.parquet     events that failed the ``events`` suite

The root may be any fsspec URL (``s3://bucket/prefix`` with ``s3fs`` installed, ``gs://``,
...); pyarrow writes through the fsspec filesystem and DuckDB reads pyarrow datasets, so no
DuckDB extension is needed. File names are content hashes: writing the same rows twice
(a pass that crashed before acknowledging) replaces a file with itself. Local files are
fsynced before they are renamed into place, so what the journal forgets is on disk.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EVENTS, RR, QUARANTINE = "events", "rr", "quarantine"


def warehouse_root() -> str:
    from nbrec.settings import get_settings

    settings = get_settings()
    return settings.warehouse or str(settings.var_dir / "warehouse")


def content_name(prefix: str, keys: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key.encode())
        digest.update(b"\0")
    return f"{prefix}-{digest.hexdigest()[:24]}.parquet"


def ids_name(prefix: str, ids: pa.Array | pa.ChunkedArray) -> str:
    """A content name for a string column, hashed from its Arrow buffers (no per-row Python):
    the same ids in the same order give the same name, however the column is chunked or sliced."""
    array = pc.cast(ids, pa.large_string())
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    array = pc.fill_null(array, "")
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, np.int64, len(array) + 1, array.offset * 8)
    digest = hashlib.sha256((ends - ends[0]).tobytes())
    if data is not None:
        digest.update(memoryview(data)[int(ends[0]) : int(ends[-1])])
    return f"{prefix}-{digest.hexdigest()[:24]}.parquet"


class Warehouse:
    """Paths, atomic Parquet writes and event-id lookups of one warehouse root."""

    def __init__(self, root: str | Path | None = None):
        import fsspec

        self.root = str(root or warehouse_root()).rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.root)
        self.local = "file" in _protocols(self.fs)
        if self.local:
            self.base = os.path.abspath(self.base)

    def path(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def dates(self, kind: str) -> list[str]:
        """The ``date=`` partitions of ``kind``, oldest first."""
        if not self.fs.exists(self.path(kind)):
            return []
        names = (
            p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path(kind), detail=False)
        )
        return sorted(n.removeprefix("date=") for n in names if n.startswith("date="))

    def files(self, kind: str, date: str | None = None) -> list[str]:
        """The Parquet files of one partition, or of every partition of ``kind``."""
        dates = [date] if date else self.dates(kind)
        out: list[str] = []
        for day in dates:
            folder = self.path(kind, f"date={day}")
            if self.fs.exists(folder):
                out += sorted(p for p in self.fs.ls(folder, detail=False) if p.endswith(".parquet"))
        return out

    def write(self, kind: str, date: str, name: str, table: pa.Table) -> str:
        """Write ``table`` as ``kind/date=DATE/NAME`` atomically (a reader never sees half)."""
        final = self.path(kind, f"date={date}", name)
        if not self.local:  # an object store PUT is atomic: readers see all or nothing
            with self.fs.open(final, "wb") as out:
                pq.write_table(table, out, compression="zstd")
            return final
        folder = os.path.dirname(final)
        os.makedirs(folder, exist_ok=True)
        tmp = f"{final}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "wb") as out:
            pq.write_table(table, out, compression="zstd")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
        _fsync_dir(folder)
        return final

    def event_ids(self, date: str) -> pa.ChunkedArray:
        """The ``event_id`` of every event already in the ``date`` partition."""
        files = self.files(EVENTS, date)
        if not files:
            return pa.chunked_array([], type=pa.string())
        import pyarrow.dataset as ds

        dataset = ds.dataset(files, format="parquet", filesystem=self.fs)
        return dataset.to_table(columns=["event_id"])["event_id"]

    def write_events(self, table: pa.Table) -> list[str]:
        """Write events into their ``date=`` partitions (the UTC date of ``ts``)."""
        if table.num_rows == 0:
            return []
        days = utc_days(table["ts"])
        written = []
        for day in pc.unique(days).to_pylist():
            part = table.filter(pc.equal(days, day))
            name = ids_name("part", part["event_id"])
            written.append(self.write(EVENTS, day.isoformat(), name, part))
        return written

    def dataset(self, kind: str):
        """A pyarrow dataset of ``kind`` (hive partitions), or None when it has no files."""
        import pyarrow.dataset as ds

        files = self.files(kind)
        if not files:
            return None
        return ds.dataset(
            files, format="parquet", filesystem=self.fs,
            partitioning=ds.HivePartitioning.discover(), partition_base_dir=self.path(kind),
        )  # fmt: skip


def utc_days(ts: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The UTC date (date32) of each timestamp: integer arithmetic, no string formatting."""
    millis = pc.cast(pc.cast(ts, pa.timestamp("ms", tz="UTC")), pa.int64())
    return pc.cast(
        pc.cast(pc.floor(pc.divide(pc.cast(millis, pa.float64()), 86_400_000.0)), pa.int32()),
        pa.date32(),
    )


def _protocols(fs) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
