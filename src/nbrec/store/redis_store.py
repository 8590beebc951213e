"""Redis feature store: the production backend, on one Redis or a Redis Cluster.

``NBREC_STORE_URL=redis://host:port/db`` (one server) or ``redis+cluster://host:port`` (any node
of a cluster). The key layout (``nbrec.store.redis_keys``) is the same for both: per-user data
spread over bucket hashes, the live pointer, version list and counters in one hash-tagged slot.
A version is written fully before it is added to the version list; ``set_live`` then flips the
pointer in a WATCH/MULTI transaction on that slot, so readers never see half a version.
Bulk reads and writes go in pipelines of ``BATCH`` entries: one round trip per batch (per node
of a cluster; redis-py's cluster pipeline groups the commands by node), never one per user.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import redis

from nbrec.constants import VERSIONS_KEPT
from nbrec.redaction import redact_url
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
from nbrec.store.redis_clients import REDIS_ERRORS, RedisClients, hset_batches, unlink_each
from nbrec.store.redis_keys import KeyLayout

BATCH = 2_000  # hash fields written per round trip (a top-100 list is ~800 bytes)
WRITE_USERS = 20_000  # users grouped by bucket and written per pipeline (~16 MB of lists)
READ_BATCH = 10_000  # users read per round trip
EMB_KEYS = ("emb_header", "emb_items", "emb_bias", "emb_features")


def store_errors(method):
    """Redis and cluster errors of ``method`` as ``StoreError`` naming the store."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except REDIS_ERRORS as exc:
            raise StoreError(f"Redis store {self.url}: {exc}") from exc

    return wrapper


class RedisStore:
    """``FeatureStore`` on a Redis server or a Redis Cluster."""

    backend = "redis"

    def __init__(
        self, url: str, prefix: str = "nbrec", timeout: float = 1.0,
        request_timeout: float | None = None,
    ):  # fmt: skip
        self.url = redact_url(url)  # messages and reprs never carry the password
        self.keys = KeyLayout(prefix)
        # Short timeouts: a slow store must turn into a fallback answer, not a hung request.
        self.clients = RedisClients(url, timeout, request_timeout)
        self.cluster = self.clients.cluster
        self._tables = ItemTables(
            lambda v: self.clients.bulk.hget(self.keys.version(v, "blob"), "items")
        )

    # -- versions ---------------------------------------------------------------------------
    @store_errors
    def write_version(self, version: str, tables: VersionTables) -> None:
        check_version_name(version)
        r, keys = self.clients.bulk, self.keys
        if r.zscore(keys.versions, version) is not None:
            raise ValueError(f"version {version!r} already exists; publish under a new version")
        items = table_of(tables.user_recs)
        blobs: dict[str, bytes] = {"popular": dumps(tables.popular), "items": items.blob}
        if tables.embeddings is not None:
            blobs.update(embeddings_to_blobs(tables.embeddings))
        self._tables.forget(version)
        # Marked as being written first: if this publish dies half-way, the next write of the
        # version finds the mark and clears what was left behind (2k keys: only then).
        if not r.sadd(keys.writing, version):
            unlink_each(r, keys.all_of_version(version))
        lists = encoded_lists(tables.user_recs, items)
        # WRITE_USERS users at a time, grouped by bucket: ~1k HSETs per pipeline, each bucket
        # written several times over a million users, never all lists in memory at once.
        while chunk := dict(itertools.islice(lists, WRITE_USERS)):
            groups = keys.group(version, "recs", chunk)
            hset_batches(
                r, ((key, {u: chunk[u] for u in ids}) for key, ids in groups.items()), BATCH
            )
        hset_batches(r, self._bucketed(version, "sim", tables.similar), BATCH)
        meta = {i: dumps(m) for i, m in tables.item_meta.items()}
        hset_batches(r, [(keys.version(version, "meta"), meta), (keys.version(version, "blob"), blobs),
                         (keys.version(version, "info"), {"info": dumps(tables.info)})], BATCH)  # fmt: skip
        with r.pipeline(transaction=True) as pipe:  # complete, and no longer being written
            pipe.zadd(keys.versions, {version: time.time()})
            pipe.srem(keys.writing, version)
            pipe.execute()

    def _bucketed(self, version: str, kind: str, table: dict[str, Any]):
        for key, ids in self.keys.group(version, kind, table).items():
            yield key, {i: dumps(table[i]) for i in ids}

    @store_errors
    def set_live(self, version: str) -> None:
        keys = self.keys
        with self.clients.bulk.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # Watching the version list too: a delete_version of this version between
                    # the check and the flip makes the flip retry (and refuse).
                    pipe.watch(keys.live, keys.versions)
                    if pipe.zscore(keys.versions, version) is None:
                        raise ValueError(
                            f"cannot make {version!r} live: no complete version by that name"
                        )
                    current = pipe.get(keys.live)
                    pipe.multi()
                    pipe.set(keys.live, version)
                    if current is not None and current.decode() != version:
                        pipe.lpush(keys.live_history, current)
                        pipe.ltrim(keys.live_history, 0, HISTORY_LENGTH - 1)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue  # another publisher flipped it meanwhile: retry on the new state

    @store_errors
    def live_version(self) -> str | None:
        value = self.clients.fast.get(self.keys.live)
        return value.decode() if value is not None else None

    @store_errors
    def live_history(self) -> list[str]:
        values = self.clients.bulk.lrange(self.keys.live_history, 0, HISTORY_LENGTH - 1)
        return [v.decode() for v in values]

    @store_errors
    def list_versions(self) -> list[str]:
        return [v.decode() for v in self.clients.bulk.zrevrange(self.keys.versions, 0, -1)]

    @store_errors
    def version_info(self, version: str) -> dict[str, Any] | None:
        raw = self.clients.bulk.hget(self.keys.version(version, "info"), "info")
        return loads(raw) if raw is not None else None

    @store_errors
    def delete_version(self, version: str) -> None:
        keys = self.keys
        with self.clients.bulk.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # The live check and the removal from the version list in one WATCH/MULTI:
                    # a set_live of this version in between makes the delete retry (and refuse).
                    pipe.watch(keys.live)
                    if pipe.get(keys.live) == version.encode():
                        raise ValueError(
                            f"cannot delete {version!r}: it is live; make another version live first"
                        )
                    pipe.multi()
                    pipe.zrem(keys.versions, version)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        # Out of the version list first: nobody starts reading a half-deleted version, and
        # set_live refuses it. Its data keys sit in other slots, so they go afterwards.
        unlink_each(self.clients.bulk, keys.all_of_version(version))
        self._tables.forget(version)

    def cleanup(self, keep: int = VERSIONS_KEPT) -> list[str]:
        return cleanup_versions(self, keep)

    # -- reads ------------------------------------------------------------------------------
    @store_errors
    def user_recs(self, version: str, user_id: str) -> Ranked | None:
        key = self.keys.bucketed(version, "recs", user_id)
        return self._tables.decode(version, self.clients.fast.hget(key, user_id))

    @store_errors
    def user_recs_many(self, version: str, user_ids: Sequence[str]) -> list[Ranked | None]:
        return self._tables.decode_many(version, self._raw_many(version, user_ids))

    @store_errors
    def user_recs_top_k(self, version: str, user_ids: Sequence[str], k: int) -> pd.DataFrame:
        users = [str(u) for u in user_ids]
        return self._tables.top_k_frame(version, users, self._raw_many(version, users), k)

    def _raw_many(self, version: str, user_ids: Sequence[str]) -> list[bytes | None]:
        # Grouped by bucket over all users first: one HMGET per bucket (not per bucket and
        # batch), sent in pipelines of about READ_BATCH users.
        found: dict[str, bytes | None] = {}
        groups = list(self.keys.group(version, "recs", user_ids).items())
        pipe, batch, queued = self.clients.bulk.pipeline(transaction=False), [], 0
        for n, (key, users) in enumerate(groups, 1):
            pipe.hmget(key, users)
            batch.append(users)
            queued += len(users)
            if queued >= READ_BATCH or n == len(groups):
                for asked, values in zip(batch, pipe.execute(), strict=True):
                    found.update(zip(asked, values, strict=True))
                batch, queued = [], 0
        return [found[u] for u in user_ids]

    @store_errors
    def user_view(self, version: str, user_id: str, head: int | None = None) -> UserView:
        # One round trip for both; bucket and seen list share a hash tag (one node of a cluster).
        seen = self.keys.seen(user_id)
        recs = ("HGET", self.keys.bucketed(version, "recs", user_id), user_id)
        raw, items = self.clients.round_trip(seen, recs, ("LRANGE", seen, 0, RECENT_SEEN - 1))
        return self._tables.decode(version, raw, head, len(items)), [s.decode() for s in items]

    @store_errors
    def popular(self, version: str) -> Ranked:
        raw = self.clients.bulk.hget(self.keys.version(version, "blob"), "popular")
        return ranked_from_json(raw) or ([], [])

    @store_errors
    def similar(self, version: str, item_id: str) -> Ranked | None:
        key = self.keys.bucketed(version, "sim", item_id)
        return ranked_from_json(self.clients.fast.hget(key, item_id))

    @store_errors
    def item_meta(self, version: str, item_ids: list[str] | None = None) -> dict[str, dict]:
        key, r = self.keys.version(version, "meta"), self.clients.bulk
        if item_ids is None:
            return {k.decode(): loads(v) for k, v in r.hgetall(key).items()}
        values = r.hmget(key, item_ids) if item_ids else []
        return {i: loads(v) for i, v in zip(item_ids, values, strict=True) if v is not None}

    @store_errors
    def item_vectors(self, version: str) -> Embeddings | None:
        values = self.clients.bulk.hmget(self.keys.version(version, "blob"), list(EMB_KEYS))
        return embeddings_from_blobs(dict(zip(EMB_KEYS, values, strict=True)))

    # -- recently seen, counters ------------------------------------------------------------
    @store_errors
    def add_seen(self, user_id: str, item_id: str) -> None:
        key = self.keys.seen(user_id)
        pipe = self.clients.fast.pipeline(transaction=True)
        pipe.lrem(key, 0, item_id)
        pipe.lpush(key, item_id)
        pipe.ltrim(key, 0, RECENT_SEEN - 1)
        pipe.execute()

    @store_errors
    def recent_seen(self, user_id: str) -> list[str]:
        key = self.keys.seen(user_id)
        (values,) = self.clients.round_trip(key, ("LRANGE", key, 0, RECENT_SEEN - 1))
        return [v.decode() for v in values]

    @store_errors
    def incr_counter(self, namespace: str, arm: str, pulls: int = 0, rewards: float = 0) -> None:
        key = self.keys.counters(namespace)
        pipe = self.clients.bulk.pipeline(transaction=True)
        pipe.hincrby(key, f"{arm}\tpulls", int(pulls))
        pipe.hincrbyfloat(key, f"{arm}\trewards", float(rewards))
        pipe.execute()

    @store_errors
    def counters(self, namespace: str) -> dict[str, tuple[int, float]]:
        raw = self.clients.bulk.hgetall(self.keys.counters(namespace))
        out: dict[str, list] = {}
        for field, value in raw.items():
            arm, _, what = field.decode().rpartition("\t")
            entry = out.setdefault(arm, [0, 0.0])
            if what == "pulls":
                entry[0] = int(value)
            else:
                entry[1] = float(value)
        return {arm: (p, r) for arm, (p, r) in out.items()}

    # -- lifecycle --------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            return self.clients.ping()
        except REDIS_ERRORS:
            return False

    def close(self) -> None:
        self.clients.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"
