"""Feature store: precomputed recommendations, vectors and counters, looked up at request time.

``open_store(url)`` picks the backend: "" / None -> SQLite file under ``var/`` (embedded
default), ``sqlite:///path/to/file.db``, ``redis://host:port/db`` (one Redis server) or
``redis+cluster://host:port`` (any node of a Redis Cluster).
"""

from __future__ import annotations

from pathlib import Path

from nbrec.errors import BadValueError
from nbrec.redaction import redact_url
from nbrec.settings import get_settings
from nbrec.store.base import (
    Embeddings,
    FeatureStore,
    Ranked,
    StoreError,
    VersionTables,
)

__all__ = [
    "FeatureStore",
    "Ranked",
    "StoreError",
    "Embeddings",
    "VersionTables",
    "open_store",
]


# Checked here, not by importing redis: the SQLite default never imports the Redis client.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")


def default_sqlite_path() -> Path:
    return get_settings().var_dir / "store" / "features.db"


def open_store(url: str | None = None, request_timeout: float | None = None) -> FeatureStore:
    """A store for ``url`` (default ``NBREC_STORE_URL``). Opening connects lazily.

    ``request_timeout`` (seconds) is the time budget of the request path's calls (Redis).
    """
    url = get_settings().store_url if url is None else url
    if not url:
        from nbrec.store.sqlite import SQLiteStore

        return SQLiteStore(default_sqlite_path())
    if url.startswith("sqlite:///"):
        from nbrec.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///") or default_sqlite_path())
    if url.startswith(REDIS_SCHEMES):
        from nbrec.store.redis_store import RedisStore

        return RedisStore(url, request_timeout=request_timeout)
    raise BadValueError(
        f"unsupported store URL {redact_url(url)!r}: use '' (SQLite under var/), 'sqlite:///path/file.db' "
        "'redis://host:port/db' or 'redis+cluster://host:port' (NBREC_STORE_URL)"
    )
