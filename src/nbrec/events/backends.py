"""Opening the journal a URL names: SQLite (embedded) or a Redis Stream (production).

Kept apart from ``journal`` (the protocol and group commit the backends build on), so the
backends import ``journal`` and nothing imports back: no import cycle in ``nbrec.events``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbrec.events.journal import EventJournal


def default_url() -> str:
    """``NBREC_EVENTS_URL``; else the store's Redis when the store is Redis; else SQLite."""
    from nbrec.settings import get_settings

    settings = get_settings()
    if settings.events_url:
        return settings.events_url
    if settings.store_url.startswith(("redis://", "rediss://", "unix://")):
        return settings.store_url
    return f"sqlite:///{Path(settings.var_dir) / 'events' / 'journal.sqlite'}"


def open_journal(url: str | None = None, **options: Any) -> EventJournal:
    """The journal at ``url``: ``sqlite:///path`` (or a path) or ``redis://host:port/db``."""
    url = url or default_url()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from nbrec.events.redis_stream import RedisStreamJournal

        return RedisStreamJournal(url, **options)
    from nbrec.events.sqlite_journal import SQLiteJournal

    # SQLAlchemy's spelling: sqlite:///relative/path, sqlite:////absolute/path
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    return SQLiteJournal(path, **options)
