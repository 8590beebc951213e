"""Nothing acknowledged is lost, nothing is ingested twice: real processes, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from nbrec.events import make_event, open_journal
from nbrec.events.ingest import ingest
from nbrec.events.warehouse import EVENTS, Warehouse

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def _acknowledged_then_killed(url: str, wanted: int) -> list[str]:
    """Start the producer, read ``wanted`` acknowledged ids, SIGKILL it mid-stream."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.events.producer", url, "4"],
        stdout=subprocess.PIPE, env=ENV, cwd=ROOT,
    )  # fmt: skip
    ids: list[str] = []
    deadline = time.monotonic() + 60
    while len(ids) < wanted and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        ids.append(line.decode().strip())
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    # Lines already in the pipe were acknowledged too (printed after durability).
    ids += [line for line in out.decode().split("\n") if line]
    assert len(ids) >= wanted, "the producer stopped early"
    return ids


def _warehouse_ids(root: Path) -> list[str]:
    dataset = Warehouse(root).dataset(EVENTS)
    return [] if dataset is None else dataset.to_table(columns=["event_id"])["event_id"].to_pylist()


def test_sigkill_mid_stream_loses_no_acknowledged_event(journal_url, tmp_path):
    acknowledged = _acknowledged_then_killed(journal_url, 2000)
    journal = open_journal(journal_url)
    report = ingest(journal, Warehouse(tmp_path / "wh"))
    journal.close()
    stored = _warehouse_ids(tmp_path / "wh")
    assert len(stored) == len(set(stored)), "an event is in the warehouse twice"
    assert set(acknowledged) <= set(stored)
    assert report.quarantined == 0


@pytest.mark.redis
def test_redis_restart_keeps_acknowledged_events(tmp_path):
    """AOF with appendfsync always: redis-server SIGKILLed and restarted loses nothing."""
    from tests.events.conftest import durable_redis
    from tests.store.redis_server import _free_port

    port, workdir = _free_port(), tmp_path / "redis"
    workdir.mkdir()
    with durable_redis(workdir, port) as (url, proc):
        acknowledged = _acknowledged_then_killed(url, 1000)
        proc.kill()  # the Redis host "crashes" right after the producer
        proc.wait()
    with durable_redis(workdir, port) as (url, _):
        journal = open_journal(url)
        ingest(journal, Warehouse(tmp_path / "wh"))
        assert journal.pending() == 0
        journal.close()
    stored = _warehouse_ids(tmp_path / "wh")
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)


def test_crash_between_write_and_ack_reingests_without_duplicates(journal_url, tmp_path):
    journal = open_journal(journal_url)
    events = [make_event(f"u{n % 7}", f"i{n % 13}", "view") for n in range(2500)]
    futures = [journal.submit(e) for e in events]
    for future in futures:
        future.result(10)
    journal.close()
    root = tmp_path / "wh"
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.events.crash_ingest", journal_url, str(root)],
        env=ENV, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    assert len(_warehouse_ids(root)) == 1000  # the first batch was written, never acknowledged
    journal = open_journal(journal_url)
    report = ingest(journal, Warehouse(root))  # what `nbrec ingest` runs, here in-process
    journal.close()
    assert (report.ingested, report.duplicates) == (1500, 1000)
    stored = _warehouse_ids(root)
    assert sorted(stored) == sorted(e["event_id"] for e in events)
    journal = open_journal(journal_url)
    assert journal.pending() == 0
    journal.close()


def test_a_retried_event_id_is_stored_once(journal, tmp_path):
    event = make_event("u1", "i1", "purchase", 9.5)
    journal.append(event, timeout=5)
    root = Warehouse(tmp_path / "wh")
    assert ingest(journal, root).ingested == 1
    journal.append(dict(event), timeout=5)  # the client retried after a lost answer
    report = ingest(journal, root)
    assert (report.ingested, report.duplicates) == (0, 1)
    table = root.dataset(EVENTS).to_table()
    assert table.num_rows == 1
    assert pc.equal(table["event"], "purchase").to_pylist() == [True]
