"""Warehouse events as training rows, and the DuckDB views over warehouse plus JSONL tail."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from nbrec.events import make_event, open_journal
from nbrec.events.ingest import ingest
from nbrec.events.reader import connect
from nbrec.events.rr_archive import archive
from nbrec.events.training import event_interactions, parse_weights, parse_window
from nbrec.events.warehouse import Warehouse

NOW = pd.Timestamp("2026-12-01T12:00:00Z")


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    journal = open_journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    day = 86_400
    for event in [
        make_event("old", "i1", "purchase", ts=NOW.timestamp() - 100 * day),  # outside 90d
        make_event("u1", "i1", "view", ts=NOW.timestamp() - 2 * day),
        make_event("u1", "i2", "click", ts=NOW.timestamp() - day),
        make_event("u2", "i3", "purchase", ts=NOW.timestamp() - day),
        make_event("u2", "i4", "rating", 4.5, ts=NOW.timestamp()),
    ]:
        journal.append(event, timeout=5)
    root = Warehouse(tmp_path / "wh")
    ingest(journal, root, now=NOW)
    journal.close()
    return root


def test_events_in_the_window_get_the_weights_of_their_type(warehouse):
    rows = event_interactions(warehouse, "90d", now=NOW)
    got = {(r.user_id, r.item_id): r.weight for r in rows.itertuples()}
    assert got == {("u1", "i1"): 1.0, ("u1", "i2"): 3.0, ("u2", "i3"): 5.0, ("u2", "i4"): 4.5}
    assert str(rows["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_weights_are_configurable_and_decay_from_the_newest_event(warehouse):
    spec = "view=0.5,click=2,purchase=10"  # rating left out
    rows = event_interactions(warehouse, "90d", spec, half_life_days=1, now=NOW)
    got = {(r.user_id, r.item_id): round(r.weight, 6) for r in rows.itertuples()}
    # the newest event used is a day old: it and its peers keep their weight, the view halves
    assert got == {("u1", "i1"): 0.25, ("u1", "i2"): 2.0, ("u2", "i3"): 10.0}
    later = event_interactions(warehouse, "90d", spec, half_life_days=1,
                               now=NOW + pd.Timedelta(hours=5))  # fmt: skip
    assert later.equals(rows)  # the clock does not change the weights (nor the data hash)


def test_bad_weight_and_window_specs_say_what_is_wrong():
    with pytest.raises(ValueError, match="click"):
        parse_weights("click=many")
    with pytest.raises(ValueError, match="90x"):
        parse_window("90x")
    assert parse_window("2w").days == 14


def test_rr_view_reads_archive_and_tail_once_each(tmp_path, warehouse):
    logs = tmp_path / "logs"
    logs.mkdir()
    line = {"ts": "2026-11-30T10:00:00.000Z", "kind": "request", "request_id": "r1", "items": ["a"]}
    (logs / "rr-20261130T100000-1.1.jsonl").write_bytes(orjson.dumps(line) + b"\n")
    (logs / "rr-20261130T100000-1.jsonl").write_bytes(
        orjson.dumps({**line, "request_id": "r2"}) + b"\n"
    )
    archive(logs, warehouse)  # archives .1 (rotated); pid 1 is alive: the active file stays
    # a crash between archiving and deleting: the archived file is back in the folder
    (logs / "rr-20261130T100000-1.1.jsonl").write_bytes(orjson.dumps(line) + b"\n")
    con = connect(logs, warehouse)
    assert sorted(con.sql("SELECT request_id FROM rr").fetchall()) == [("r1",), ("r2",)]
    assert con.execute("SELECT count(*) FROM events").fetchone() == (5,)
    assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
