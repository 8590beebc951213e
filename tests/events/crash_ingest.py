"""Ingest one pass and SIGKILL this process right after the warehouse write, before the ack.

python -m tests.events.crash_ingest JOURNAL_URL WAREHOUSE
"""

from __future__ import annotations

import os
import signal
import sys

from nbrec.events import open_journal
from nbrec.events.ingest import ingest
from nbrec.events.warehouse import Warehouse


def main(url: str, root: str) -> None:
    journal = open_journal(url)

    def crash(batch) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    journal.ack = crash
    ingest(journal, Warehouse(root), batch=1000)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
