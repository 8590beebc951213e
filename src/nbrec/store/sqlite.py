"""SQLite feature store: the embedded default, one file (WAL mode) under ``var/``.

Each thread gets its own connection (sqlite3 connections are not shareable across threads);
readers never block the writer in WAL mode, and a version becomes visible only when
``set_live`` flips the one-row live pointer inside a transaction.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from nbrec.constants import VERSIONS_KEPT
from nbrec.store.base import (
    HISTORY_LENGTH,
    RECENT_SEEN,
    Embeddings,
    ItemTables,
    Ranked,
    StoreError,
    UserView,
    VersionTables,
    check_version_name,
    cleanup_versions,
    dumps,
    embeddings_from_blobs,
    embeddings_to_blobs,
    loads,
    ranked_from_json,
)
from nbrec.store.ranked import encoded_lists, table_of
from nbrec.store.sqlite_schema import SCHEMA, SEEN, VIEW

CHUNK = 20_000  # rows per executemany
PUBLISH_CACHE_KIB = 256 * 1024  # page cache while publishing: a million-row insert stays in RAM
READ_BATCH = 900  # users per query (bound parameters; SQLite's limit is 32766)


class SQLiteStore:
    """``FeatureStore`` on one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._seq_lock = threading.Lock()
        self._last_seq = 0
        self._tables = ItemTables(lambda version: self._get(version, "blob", "items"))

    # -- connections ------------------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = self._connect()
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _connect(self, timeout: float = 5.0) -> sqlite3.Connection:
        """Open and set up a connection. Switching a new file to WAL needs an exclusive lock
        that SQLite does not wait for, so two processes opening a new store at once retry."""
        deadline = time.monotonic() + timeout
        while True:
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(SCHEMA)
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc
            raise

    # -- versions ---------------------------------------------------------------------------
    def write_version(self, version: str, tables: VersionTables) -> None:
        check_version_name(version)
        if version in self.list_versions():
            raise ValueError(f"version {version!r} already exists; publish under a new version")
        items = table_of(tables.user_recs)
        blobs: dict[str, bytes] = {"popular": dumps(tables.popular), "items": items.blob}
        if tables.embeddings is not None:
            blobs.update(embeddings_to_blobs(tables.embeddings))
        # A generator, written CHUNK rows per executemany inside one transaction: a million
        # users' lists are never all in memory at once. In key order, each insert appends to
        # the B-tree instead of splitting pages all over the file.
        rows = itertools.chain(
            (("recs", u, raw) for u, raw in encoded_lists(tables.user_recs, items, sort=True)),
            (("sim", i, dumps(r)) for i, r in tables.similar.items()),
            (("meta", i, dumps(m)) for i, m in tables.item_meta.items()),
            (("blob", k, v) for k, v in blobs.items()),
        )
        self._tables.forget(version)
        with self._transaction() as db:
            db.execute(f"PRAGMA cache_size = -{PUBLISH_CACHE_KIB}")  # this connection's, for now
            db.execute("DELETE FROM kv WHERE version = ?", (version,))
            db.execute(
                "INSERT OR REPLACE INTO versions VALUES (?, ?, 0, ?)",
                (version, time.time(), dumps(tables.info)),
            )
            while chunk := list(itertools.islice(rows, CHUNK)):
                db.executemany("INSERT INTO kv VALUES (?, ?, ?, ?)", [(version, *r) for r in chunk])
            db.execute("UPDATE versions SET complete = 1 WHERE version = ?", (version,))
            db.execute("PRAGMA cache_size = -2000")  # SQLite's default again

    def set_live(self, version: str) -> None:
        with self._transaction() as db:
            found = db.execute(
                "SELECT 1 FROM versions WHERE version = ? AND complete = 1", (version,)
            ).fetchone()
            if not found:
                raise ValueError(f"cannot make {version!r} live: no complete version by that name")
            current = db.execute("SELECT version FROM live WHERE id = 1").fetchone()
            if current and current[0] != version:
                db.execute("INSERT INTO live_history (version) VALUES (?)", (current[0],))
            db.execute("INSERT OR REPLACE INTO live VALUES (1, ?)", (version,))

    def live_version(self) -> str | None:
        row = self._query("SELECT version FROM live WHERE id = 1")
        return row[0][0] if row else None

    def live_history(self) -> list[str]:
        rows = self._query(
            "SELECT version FROM live_history ORDER BY seq DESC LIMIT ?", (HISTORY_LENGTH,)
        )
        return [r[0] for r in rows]

    def list_versions(self) -> list[str]:
        rows = self._query("SELECT version FROM versions WHERE complete = 1 ORDER BY created DESC")
        return [r[0] for r in rows]

    def version_info(self, version: str) -> dict[str, Any] | None:
        rows = self._query("SELECT info FROM versions WHERE version = ?", (version,))
        return loads(rows[0][0]) if rows else None

    def delete_version(self, version: str) -> None:
        with self._transaction() as db:
            # Checked inside the write transaction: a set_live of this version cannot slip in
            # between the check and the delete (the live pointer would name nothing).
            live = db.execute("SELECT version FROM live WHERE id = 1").fetchone()
            if live and live[0] == version:
                raise ValueError(
                    f"cannot delete {version!r}: it is live; make another version live first"
                )
            db.execute("DELETE FROM kv WHERE version = ?", (version,))
            db.execute("DELETE FROM versions WHERE version = ?", (version,))
        self._tables.forget(version)

    def cleanup(self, keep: int = VERSIONS_KEPT) -> list[str]:
        return cleanup_versions(self, keep)

    # -- reads ------------------------------------------------------------------------------
    def _get(self, version: str, kind: str, key: str) -> bytes | None:
        rows = self._query(
            "SELECT value FROM kv WHERE version = ? AND kind = ? AND key = ?", (version, kind, key)
        )
        return rows[0][0] if rows else None

    def user_recs(self, version: str, user_id: str) -> Ranked | None:
        return self._tables.decode(version, self._get(version, "recs", user_id))

    def user_recs_many(self, version: str, user_ids: Sequence[str]) -> list[Ranked | None]:
        return self._tables.decode_many(version, self._raw_many(version, user_ids))

    def user_recs_top_k(self, version: str, user_ids: Sequence[str], k: int) -> pd.DataFrame:
        users = [str(u) for u in user_ids]
        return self._tables.top_k_frame(version, users, self._raw_many(version, users), k)

    def _raw_many(self, version: str, user_ids: Sequence[str]) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        for lo in range(0, len(user_ids), READ_BATCH):
            batch = list(dict.fromkeys(user_ids[lo : lo + READ_BATCH]))
            marks = ",".join("?" * len(batch))
            found.update(self._query(
                f"SELECT key, value FROM kv WHERE version = ? AND kind = 'recs' AND key IN ({marks})",
                (version, *batch),
            ))  # fmt: skip
        return [found.get(u) for u in user_ids]

    def user_view(self, version: str, user_id: str, head: int | None = None) -> UserView:
        # On this thread's own cursor: the request path's statement, without a cursor per call.
        view = getattr(self._local, "view", None)
        try:
            if view is None:
                view = self._local.view = self._db.cursor()
            rows = view.execute(VIEW, (version, user_id, user_id, RECENT_SEEN)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc
        if rows and rows[0][0] == 0:
            seen = [r[1] for r in rows[1:]]
            return self._tables.decode(version, rows[0][1], head, len(seen)), seen
        return None, [r[1] for r in rows]

    def popular(self, version: str) -> Ranked:
        return ranked_from_json(self._get(version, "blob", "popular")) or ([], [])

    def similar(self, version: str, item_id: str) -> Ranked | None:
        return ranked_from_json(self._get(version, "sim", item_id))

    def item_meta(self, version: str, item_ids: list[str] | None = None) -> dict[str, dict]:
        rows = self._query(
            "SELECT key, value FROM kv WHERE version = ? AND kind = 'meta'", (version,)
        )
        wanted = None if item_ids is None else set(item_ids)
        return {k: loads(v) for k, v in rows if wanted is None or k in wanted}

    def item_vectors(self, version: str) -> Embeddings | None:
        rows = self._query(
            "SELECT key, value FROM kv WHERE version = ? AND kind = 'blob' AND key LIKE 'emb_%'",
            (version,),
        )
        return embeddings_from_blobs(dict(rows))

    # -- recently seen, counters ------------------------------------------------------------
    def add_seen(self, user_id: str, item_id: str) -> None:
        # A strictly increasing sequence orders this process's events even within one clock
        # tick (time_ns can repeat) or when the wall clock steps back.
        with self._seq_lock:
            seq = self._last_seq = max(time.time_ns(), self._last_seq + 1)
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", (user_id, item_id, seq))
            db.execute(
                "DELETE FROM seen WHERE user_id = ? AND seq < (SELECT seq FROM seen WHERE user_id = ?"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (user_id, user_id, RECENT_SEEN - 1),
            )

    def recent_seen(self, user_id: str) -> list[str]:
        return [r[0] for r in self._query(SEEN, (user_id, RECENT_SEEN))]

    def incr_counter(self, namespace: str, arm: str, pulls: int = 0, rewards: float = 0) -> None:
        # One UPSERT statement: atomic across processes sharing the file.
        self._query(
            "INSERT INTO counters VALUES (?, ?, ?, ?) ON CONFLICT (namespace, arm) DO UPDATE "
            "SET pulls = pulls + excluded.pulls, rewards = rewards + excluded.rewards",
            (namespace, arm, int(pulls), float(rewards)),
        )

    def counters(self, namespace: str) -> dict[str, tuple[int, float]]:
        rows = self._query(
            "SELECT arm, pulls, rewards FROM counters WHERE namespace = ?", (namespace,)
        )
        return {arm: (int(p), float(r)) for arm, p, r in rows}

    # -- lifecycle --------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            self._query("SELECT 1")
        except StoreError:
            return False
        return True

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = self._local.view = None

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"
