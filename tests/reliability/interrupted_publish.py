"""Run by test_faults: publish a model and stop half-way through writing it, to be SIGKILLed.

``python -m tests.reliability.interrupted_publish STORE_URL VERSION MARKER``: fits the
popularity model on the small synthetic data, starts ``publish`` and, once some of the version's
rows are written, touches MARKER and sleeps (the test kills the process there). The pause is
injected at the storage client (a Redis pipeline's round trip, an SQLite statement), not in nbrec's code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from nbrec.data.synthetic import generate
from nbrec.models import make_model
from nbrec.pipeline.publish import publish
from nbrec.store import open_store


def pause_after(count: int, marker: Path):
    seen = [0]

    def step(*_args) -> None:
        seen[0] += 1
        if seen[0] == count:
            marker.touch()
            time.sleep(120)  # killed here

    return step


def main(url: str, version: str, marker: Path) -> None:
    data = generate(users=300, items=120, interactions=6_000, seed=7)
    model = make_model("popularity").fit(data.interactions, data.items, data.users)
    store = open_store(url)
    if store.backend == "redis":
        from redis.client import Pipeline

        execute = Pipeline.execute
        step = pause_after(1, marker)  # after the first batch of recs

        def slow_execute(self, *args, **kwargs):
            result = execute(self, *args, **kwargs)
            step()
            return result

        Pipeline.execute = slow_execute
    else:
        step = pause_after(3, marker)
        store._db.set_trace_callback(
            lambda sql: step() if sql.startswith("INSERT INTO kv") else None
        )
    publish(model, version, store, items=data.items)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
