"""Many workers opening one new SQLite store at the same moment all succeed.

Switching a new file to WAL takes an exclusive lock that SQLite does not wait for; without a
retry, one of two workers starting together failed with "database is locked".
"""

from __future__ import annotations

import threading

from nbrec.store import open_store


def test_new_store_opened_by_many_workers_at_once(tmp_path):
    for attempt in range(20):
        url = f"sqlite:///{tmp_path / f'store{attempt}.db'}"
        barrier, errors = threading.Barrier(8), []

        def worker(url=url, barrier=barrier, errors=errors) -> None:
            barrier.wait()
            try:
                store = open_store(url)
                store.incr_counter("race", "arm", pulls=1)
                store.close()
            except Exception as exc:  # collected: the assertion below names it
                errors.append(repr(exc))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == [], errors
        assert open_store(url).counters("race")["arm"][0] == 8
