"""Append events to a journal as fast as it acknowledges them; print each durable event_id.

Run by tests/events/test_crash.py and benchmarks/loop: the parent SIGKILLs this process
mid-stream; every id printed before that must reach the warehouse exactly once.
    python -m tests.events.producer JOURNAL_URL [THREADS]
"""

from __future__ import annotations

import sys
import threading

from nbrec.events import make_event, open_journal
from nbrec.events.journal import wait_durable


def main(url: str, threads: int = 4) -> None:
    journal = open_journal(url)
    lock = threading.Lock()

    def run(worker: int) -> None:
        n = 0
        while True:
            event = make_event(f"u{worker}", f"i{n % 100}", "click")
            wait_durable(journal.submit(event), 10)
            with lock:
                sys.stdout.write(event["event_id"] + "\n")
                sys.stdout.flush()
            n += 1

    for worker in range(threads):
        threading.Thread(target=run, args=(worker,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4)
