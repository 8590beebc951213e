"""The data loop: durable event intake (journal or Redis Stream), the Parquet warehouse, ingestion.

Submodules: ``schema`` (the event record), ``journal`` (protocol, group commit), ``backends`` (``open_journal``),
``sqlite_journal`` and ``redis_stream`` (backends), ``warehouse`` (layout, atomic writes),
``checks`` (the GX suite row by row), ``ingest`` (``nbrec ingest``). Importing this package
opens nothing and creates nothing.
"""

from nbrec.events.backends import open_journal
from nbrec.events.journal import EventJournal, JournalUnavailable
from nbrec.events.schema import EVENT_COLUMNS, EVENT_TYPES, make_event, new_event_id

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "EventJournal",
    "JournalUnavailable",
    "make_event",
    "new_event_id",
    "open_journal",
]
