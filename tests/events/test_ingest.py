"""``nbrec ingest`` end to end: quarantine, partitions, the status file and its metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest

from nbrec.events import make_event, open_journal
from nbrec.events.status import LoopStatusCollector
from nbrec.events.warehouse import EVENTS, QUARANTINE, Warehouse

ROOT = Path(__file__).resolve().parents[2]


def test_nbrec_ingest_partitions_good_events_and_quarantines_bad_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    journal = open_journal(url)
    day1 = pd.Timestamp("2026-11-30T23:59:59Z").timestamp()
    good = [make_event("u1", "i1", "click", ts=day1), make_event("u2", "i2", "view"),
            make_event("u3", "i3", "purchase", 20.0, request_id="r1", model_version="v1",
                       experiment="exp", variant="b")]  # fmt: skip
    for event in good:
        journal.append(event, timeout=5)
    bad = {
        b"{not json": "payload is a JSON object",
        orjson.dumps(make_event("u4", "i4", "like")): "event is view, click, purchase or rating",
        orjson.dumps({**make_event("u5", "i5", "click"), "user_id": None}): "user_id not null",
        orjson.dumps(make_event("u6", "i6", "click", ts=4102444800.0)): "ts in the sane range",
        orjson.dumps(make_event("u7", "x" * 200, "click")): "item_id of 1 to 128 characters",
    }
    journal.insert_raw(list(bad))
    journal.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NBREC_VAR_DIR": str(tmp_path / "var"),
           "NBREC_EVENTS_URL": url, "NBREC_WAREHOUSE": str(tmp_path / "wh")}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "nbrec", "ingest", "--log-dir", str(tmp_path / "logs")],
                         env=env, capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    assert (counts["ingested"], counts["quarantined"], counts["journal_pending"]) == (3, 5, 0)

    warehouse = Warehouse(tmp_path / "wh")
    assert warehouse.dates(EVENTS) == ["2026-11-30", pd.Timestamp.now(tz="UTC").date().isoformat()]
    events = warehouse.dataset(EVENTS).to_table().to_pandas()
    assert sorted(events["event_id"]) == sorted(e["event_id"] for e in good)
    third = events.set_index("event_id").loc[good[2]["event_id"]]
    assert (third["value"], third["model_version"], third["variant"]) == (20.0, "v1", "b")
    quarantined = warehouse.dataset(QUARANTINE).to_table().to_pandas()
    by_payload = dict(zip(quarantined["payload"], quarantined["failed_expectation"], strict=True))
    for payload, reason in bad.items():
        assert by_payload[payload.decode()].startswith(reason), (payload, by_payload)

    registry = CollectorRegistry()
    registry.register(LoopStatusCollector(path=tmp_path / "var" / "status" / "ingest.json"))
    text = generate_latest(registry).decode()
    assert "nbrec_events_quarantined_total 5.0" in text
    assert "nbrec_events_ingested_total 3.0" in text
    assert (
        'nbrec_events_quarantined_by_expectation_total{expectation="user_id not null"} 1.0' in text
    )
