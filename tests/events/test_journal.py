"""The journal contract, once per backend (SQLite file, real redis-server with AOF)."""

from __future__ import annotations

import threading

import orjson
import pytest

from nbrec.events import JournalUnavailable, make_event, open_journal
from nbrec.events.journal import wait_durable


def _ids(batch) -> list[str]:
    return [orjson.loads(p)["event_id"] for p in batch.payloads]


def test_appended_events_are_read_in_order_and_gone_after_ack(journal):
    events = [make_event("u1", f"i{n}", "click") for n in range(5)]
    for event in events:
        journal.append(event, timeout=5)
    assert journal.pending() == 5
    first = journal.read(3)
    assert _ids(first) == [e["event_id"] for e in events[:3]]
    journal.ack(first)
    rest = journal.read(10)
    assert _ids(rest) == [e["event_id"] for e in events[3:]]
    journal.ack(rest)
    assert journal.pending() == 0
    assert len(journal.read(10)) == 0


def test_unacknowledged_events_are_read_again_by_a_new_reader(journal_url):
    writer = open_journal(journal_url)
    event = make_event("u1", "i1", "view")
    writer.append(event, timeout=5)
    first = writer.read(10)
    assert _ids(first) == [event["event_id"]]
    writer.close()  # "crashed" before ack
    again = open_journal(journal_url)
    try:
        assert _ids(again.read(10)) == [event["event_id"]]
    finally:
        again.close()


def test_concurrent_appends_share_commits(journal):
    """Group commit: 8 threads x 200 events take far fewer commits than events."""
    futures, lock = [], threading.Lock()

    def produce(t: int) -> None:
        for n in range(200):
            future = journal.submit(make_event(f"u{t}", f"i{n}", "click"))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for future in futures:
        wait_durable(future, 10)
    assert journal.stats["committed"] == 1600
    assert journal.stats["batches"] < 1600
    assert journal.pending() == 1600


def test_a_full_backlog_is_refused_not_queued_forever(journal_url):
    small = open_journal(journal_url, max_pending=0)
    try:
        with pytest.raises(JournalUnavailable, match="waiting for a commit"):
            small.submit(make_event("u1", "i1", "click"))
    finally:
        small.close()


@pytest.mark.redis
def test_redis_down_fails_the_future_fast(tmp_path):
    from tests.events.conftest import durable_redis

    with durable_redis(tmp_path) as (url, proc):
        journal = open_journal(url)
        journal.append(make_event("u1", "i1", "click"), timeout=5)
        proc.kill()
        proc.wait()
        with pytest.raises(JournalUnavailable):
            journal.append(make_event("u1", "i2", "click"), timeout=5)
        journal.close()
