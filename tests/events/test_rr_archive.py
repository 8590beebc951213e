"""RR log files reach the warehouse as Parquet before anything deletes them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
import pyarrow.dataset as ds

from nbrec.events.rr_archive import archive, unarchived_files
from nbrec.events.warehouse import RR, Warehouse


def _write(path, lines, age: float = 0.0):
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))


def _line(n: int, day: str = "2026-11-30") -> dict:
    return {"ts": f"{day}T10:00:{n % 60:02d}.000Z", "kind": "request", "request_id": f"r{n}",
            "user_id": "u1", "model_version": "v1", "experiment": None, "variant": None,
            "k": 2, "items": ["a", "b"], "scores": [0.5, None], "propensities": None,
            "fallback": None, "latency_ms": 1.5, "status": 200, "endpoint": "/recommend"}  # fmt: skip


def test_closed_files_are_archived_then_deleted_active_ones_kept(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    rotated = logs / f"rr-20261130T100000-{os.getpid()}.1.jsonl"
    _write(rotated, [_line(n) for n in range(5)] + [_line(9, "2026-12-01")])
    active = logs / f"rr-20261130T100000-{os.getpid()}.jsonl"  # this process: still writing
    _write(active, [_line(6)], age=3600)
    orphan = logs / f"rr-20261130T090000-{dead}.jsonl"  # its writer is gone
    _write(orphan, [_line(7)], age=3600)
    (logs / f"rr-20261130T090000-{dead}.2.jsonl").write_bytes(
        orjson.dumps(_line(8)) + b'\n{"ts": "2026-1'
    )
    assert len(unarchived_files(logs)) == 3

    counts = archive(logs, Warehouse(tmp_path / "wh"))
    assert counts == {"rr_files_archived": 3, "rr_lines_archived": 8, "rr_lines_unreadable": 1}
    assert sorted(p.name for p in logs.iterdir()) == [active.name]
    warehouse = Warehouse(tmp_path / "wh")
    assert warehouse.dates(RR) == ["2026-11-30", "2026-12-01"]
    table = warehouse.dataset(RR).to_table()
    assert sorted(table["request_id"].to_pylist()) == [
        "r0",
        "r1",
        "r2",
        "r3",
        "r4",
        "r7",
        "r8",
        "r9",
    ]
    row = table.filter(ds.field("request_id") == "r1").to_pylist()[0]
    assert (row["items"], row["scores"], row["status"]) == (["a", "b"], [0.5, None], 200)


def test_archiving_twice_replaces_instead_of_duplicating(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [_line(n) for n in range(3)]
    _write(logs / "rr-20261130T100000-1.1.jsonl", lines)
    warehouse = Warehouse(tmp_path / "wh")
    archive(logs, warehouse)
    _write(logs / "rr-20261130T100000-1.1.jsonl", lines)  # a crash before the delete
    archive(logs, warehouse)
    assert warehouse.dataset(RR).to_table().num_rows == 3


def test_rotation_deletes_nothing_and_every_line_reaches_the_warehouse(tmp_path):
    from nbrec.rrlog.writer import RRLogger

    logs, warehouse = tmp_path / "logs", Warehouse(tmp_path / "wh")
    log = RRLogger(logs, max_bytes=4_000)
    for n in range(600):
        log.log({"kind": "request", "request_id": f"r{n}", "items": ["a", "b"], "status": 200})
        if n == 300:
            log.flush()
            archive(logs, warehouse)  # archiving while the writer keeps rotating
    log.flush()
    rotated = unarchived_files(logs)
    assert len(rotated) > 5  # rotated files wait for the archive; none was deleted
    archive(logs, warehouse)
    log.close()
    archived = set(warehouse.dataset(RR).to_table()["request_id"].to_pylist())
    tail = {
        orjson.loads(x)["request_id"]
        for p in logs.glob("rr-*.jsonl")
        for x in p.read_bytes().splitlines()
    }
    assert len(list(logs.glob("rr-*.jsonl"))) == 1  # only the active file is left
    assert archived | tail == {f"r{n}" for n in range(600)} and not archived & tail
