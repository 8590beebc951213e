"""``nbrec ingest``: drain the journal (or Redis Stream) into the warehouse, exactly once.

One pass: read the oldest unacknowledged events in batches; parse them; run the ``events``
suite; write the good ones into ``events/date=...``, skipping every ``event_id`` the partition
already holds; write the bad ones, with the expectation they failed, into ``quarantine/``;
only then acknowledge the batch. A crash anywhere before the acknowledgement re-reads the
same events on the next pass, and the ``event_id`` check makes that re-ingestion a no-op:
each acknowledged event is in the warehouse exactly once. (The check looks at the date
partition of the event: a client retry that crosses midnight UTC is the one duplicate it can
miss; dedupe on read, ``SELECT DISTINCT ON (event_id)``, if that matters.)

One ingester at a time per journal: the scheduled deployments run with a concurrency
limit of 1 (two concurrent passes over the SQLite journal could both write a batch before
either acknowledges it).
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from nbrec.events.checks import failed_rows
from nbrec.events.journal import EventJournal
from nbrec.events.schema import EVENT_COLUMNS, EVENT_SCHEMA
from nbrec.events.warehouse import QUARANTINE, Warehouse, content_name, utc_days

BATCH = 250_000  # events per pass step: GX and Parquet have a fixed cost per batch
SUITE_COLUMNS = ("event_id", "ts", "user_id", "item_id", "event", "value")
NOT_AN_EVENT = "payload is a JSON object of an event (parsed before the suite runs)"
# What the journal holds: ts in Unix milliseconds, everything else as in EVENT_SCHEMA.
_RAW_SCHEMA = pa.schema([pa.field("ts", pa.int64()) if f.name == "ts" else f for f in EVENT_SCHEMA])
_QUARANTINE_SCHEMA = pa.schema(
    [("payload", pa.string()), ("failed_expectation", pa.string()), ("quarantined_at", pa.timestamp("ms", tz="UTC"))]
)  # fmt: skip


@dataclass
class IngestReport:
    read: int = 0  # events taken from the journal
    ingested: int = 0  # new rows in the warehouse
    duplicates: int = 0  # already there (a retried request, a re-read after a crash)
    quarantined: int = 0
    batches: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # expectation -> quarantined rows

    def as_dict(self) -> dict:
        out = asdict(self)
        out["files"] = len(self.files)
        return out


def parse(payloads: list[bytes]) -> tuple[pa.Table, list[bytes], list[tuple[bytes, str]]]:
    """(events as an Arrow table, the payload of each row, the payloads that are not events)."""
    if not payloads:
        return EVENT_SCHEMA.empty_table(), [], []
    try:  # fast path: Arrow's C++ JSON reader over the whole batch
        raw = pajson.read_json(
            io.BytesIO(b"\n".join(payloads)),
            read_options=pajson.ReadOptions(block_size=1 << 24),
            parse_options=pajson.ParseOptions(
                explicit_schema=_RAW_SCHEMA, unexpected_field_behavior="ignore",
                newlines_in_values=False,
            ),
        )  # fmt: skip
        if raw.num_rows == len(payloads):
            return _to_events(raw), payloads, []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    rows, kept, bad = [], [], []
    for payload in payloads:  # slow path: one by one, to set the unparseable ones aside
        try:
            row = orjson.loads(payload)
            if not isinstance(row, dict):
                raise ValueError("not an object")
            rows.append({c: _coerce(c, row.get(c)) for c in EVENT_COLUMNS})
            kept.append(payload)
        except (ValueError, TypeError, OverflowError):
            bad.append((payload, NOT_AN_EVENT))
    return _to_events(pa.Table.from_pylist(rows, schema=_RAW_SCHEMA)), kept, bad


def _coerce(column: str, value):
    if value is None:
        return None
    if column == "ts":
        return int(value)
    if column == "value":
        return float(value)
    return value if isinstance(value, str) else str(value)


def _to_events(raw: pa.Table) -> pa.Table:
    ts = pc.cast(raw["ts"], pa.timestamp("ms", tz="UTC"))
    return raw.set_column(raw.schema.get_field_index("ts"), "ts", ts).select(list(EVENT_COLUMNS))


def validate(
    events: pa.Table, payloads: list[bytes], now=None
) -> tuple[pa.Table, list[tuple[bytes, str]]]:
    """(rows passing the ``events`` suite, [(original payload, failed expectation)] for the rest)."""
    # Only the columns the suite reads (GX also fingerprints the whole frame it is given), as
    # pandas' Arrow-backed strings: no Python object per value, and half the cost of GX's
    # fingerprint over object columns.
    frame = events.select(list(SUITE_COLUMNS)).to_pandas()
    failures = failed_rows(frame, now)
    if not failures:
        return events, []
    mask = pa.array([i not in failures for i in range(events.num_rows)])
    bad = [(payloads[i], failures[i]) for i in sorted(failures)]
    return events.filter(mask), bad


def quarantine(warehouse: Warehouse, bad: list[tuple[bytes, str]]) -> str | None:
    """Keep the rejected payloads, each with the expectation it failed (never dropped)."""
    if not bad:
        return None
    now = pa.scalar(int(time.time() * 1000), pa.timestamp("ms", tz="UTC"))
    table = pa.table(
        {
            "payload": [p.decode("utf-8", "replace") for p, _ in bad],
            "failed_expectation": [reason for _, reason in bad],
            "quarantined_at": pa.array([now.value] * len(bad), pa.timestamp("ms", tz="UTC")),
        },
        schema=_QUARANTINE_SCHEMA,
    )
    day = time.strftime("%Y-%m-%d", time.gmtime())
    name = content_name("q", (p.decode("utf-8", "replace") for p, _ in bad))
    return warehouse.write(QUARANTINE, day, name, table)


class _KnownIds:
    """The event ids of each touched date partition, read once per pass."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.by_day: dict[str, list[pa.Array]] = {}

    def fresh(self, events: pa.Table) -> pa.Table:
        """``events`` minus ids seen before (in the warehouse or earlier in this batch)."""
        days = utc_days(events["ts"])
        keep = []
        for date in pc.unique(days).to_pylist():
            part = events.filter(pc.equal(days, date))
            day = date.isoformat()
            if day not in self.by_day:
                self.by_day[day] = list(self.warehouse.event_ids(day).chunks)
            known = pa.chunked_array(self.by_day[day], type=pa.string()).combine_chunks()
            if len(known):
                part = part.filter(pc.invert(pc.is_in(part["event_id"], value_set=known)))
            part = _first_of_each_id(part)
            self.by_day[day].append(part["event_id"].combine_chunks())
            keep.append(part)
        return pa.concat_tables(keep) if keep else events.slice(0, 0)


def _first_of_each_id(table: pa.Table) -> pa.Table:
    if table.num_rows < 2:
        return table
    ids = table["event_id"]
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    index = pa.array(range(table.num_rows), pa.int64())
    first = (
        pa.table({"id": ids, "i": index})
        .group_by("id", use_threads=False)
        .aggregate([("i", "min")])
    )
    return table.take(pc.sort_indices(first["i_min"]))


def ingest(
    journal: EventJournal, warehouse: Warehouse | None = None, batch: int = BATCH,
    max_events: int | None = None, now=None,
) -> IngestReport:  # fmt: skip
    """One pass: drain ``journal`` into ``warehouse`` until it is empty (or ``max_events``)."""
    warehouse = warehouse or Warehouse()
    report, known, start = IngestReport(), _KnownIds(warehouse), time.perf_counter()
    while max_events is None or report.read < max_events:
        taken = journal.read(batch)
        if not len(taken) and not taken.ids:
            break
        events, payloads, bad = parse(taken.payloads)
        events, rejected = validate(events, payloads, now)
        bad += rejected
        fresh = known.fresh(events)
        report.files += warehouse.write_events(fresh)
        path = quarantine(warehouse, bad)
        if path:
            report.files.append(path)
        journal.ack(taken)  # only now: a crash above re-reads this batch, a no-op for the ids
        report.read += len(taken)
        report.batches += 1
        report.ingested += fresh.num_rows
        report.duplicates += events.num_rows - fresh.num_rows
        report.quarantined += len(bad)
        for _, reason in bad:
            report.failures[reason] = report.failures.get(reason, 0) + 1
        if len(taken) < batch and not taken.ids:
            break
    report.seconds = time.perf_counter() - start
    return report


def run_ingest(
    events_url: str | None = None, warehouse: str | None = None, log_dir: str | None = None,
    batch: int = BATCH, archive_logs: bool = True,
) -> dict:  # fmt: skip
    """One pass of the data loop's ingestion: events, then closed RR log files; recorded in
    ``var/status/ingest.json`` (the service's metrics read it). Returns the counts."""
    from nbrec.events import status
    from nbrec.events.backends import open_journal
    from nbrec.events.rr_archive import archive
    from nbrec.settings import get_settings

    store = Warehouse(warehouse)
    journal = open_journal(events_url)
    try:
        report = ingest(journal, store, batch=batch)
        left = journal.pending()
    finally:
        journal.close()
    counts = {"ingested": report.ingested, "duplicates": report.duplicates,
              "quarantined": report.quarantined}  # fmt: skip
    if archive_logs:
        counts |= archive(log_dir or get_settings().logs_path, store)
    status.record(counts, report.failures)
    return {**counts, "read": report.read, "seconds": round(report.seconds, 3),
            "journal_pending": left, "backend": journal.backend, "warehouse": store.root}  # fmt: skip
