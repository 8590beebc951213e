"""Ingestion throughput: events/s drained from the SQLite journal into the Parquet warehouse.

    python benchmarks/loop/bench_ingest.py [--events 500000] [--batch 250000]

Fills a fresh journal (outside the timing), then times one ``ingest`` pass: read, parse (Arrow's
JSON reader), the GX ``events`` suite on each batch, event-id dedupe against the partition,
Parquet write (zstd, fsynced), acknowledge (delete, checkpoint). GX's one-off import is timed apart. A second pass over the same
events re-read after a simulated lost ack shows the cost of the dedupe path. CPU seconds
(process time, all threads) are printed beside wall time: on a shared machine they say what
the pass costs, wall time says what it got.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import orjson

from nbrec.events import make_event
from nbrec.events.ingest import BATCH
from nbrec.events.sqlite_journal import SQLiteJournal
from nbrec.events.warehouse import Warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args()
    start = time.perf_counter()
    from nbrec.events.checks import _batch_definition

    _batch_definition()
    gx_import = time.perf_counter() - start
    from nbrec.events.ingest import ingest, parse

    parse([orjson.dumps(make_event("u", "i", "view"))])  # pyarrow's JSON reader: first use

    with tempfile.TemporaryDirectory(dir="var" if os.path.isdir("var") else None) as tmp:
        journal = SQLiteJournal(f"{tmp}/journal.sqlite")
        now = time.time()
        payloads = [
            orjson.dumps(make_event(f"u{n % 50_000}", f"i{n % 3_000}", ("view", "click", "purchase")[n % 3],
                                    request_id=f"r{n}", model_version="v1", ts=now - n * 0.01))
            for n in range(args.events)
        ]  # fmt: skip
        for i in range(0, len(payloads), 50_000):
            journal.insert_raw(payloads[i : i + 50_000])
        warehouse = Warehouse(f"{tmp}/wh")
        cpu = time.process_time()
        report = ingest(journal, warehouse, batch=args.batch)
        first, first_cpu = report.as_dict(), time.process_time() - cpu
        # the same events again (as after a crash between write and ack): all duplicates
        for i in range(0, len(payloads), 50_000):
            journal.insert_raw(payloads[i : i + 50_000])
        cpu = time.process_time()
        again = ingest(journal, warehouse, batch=args.batch).as_dict()
        again_cpu = time.process_time() - cpu
        journal.close()
    print(json.dumps({
        "events": args.events, "batch": args.batch, "gx_import_s": round(gx_import, 2),
        "ingest_s": round(first["seconds"], 2), "events_per_s": round(args.events / first["seconds"]),
        "cpu_s": round(first_cpu, 2), "events_per_cpu_s": round(args.events / first_cpu),
        "reingest_s": round(again["seconds"], 2), "reingest_duplicates": again["duplicates"],
        "reingest_events_per_s": round(args.events / again["seconds"]),
        "reingest_events_per_cpu_s": round(args.events / again_cpu),
        "load": os.getloadavg(),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
