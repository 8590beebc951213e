"""Redis feature store: the production backend (``NBREC_STORE_URL=redis://host:port/db``).

Keys (prefix ``nbrec``): ``versions`` (zset: complete versions by creation time),
``v:<version>:info|recs|sim|meta|blob`` (hashes), ``live`` (string), ``live_history`` (list),
``seen:<user>`` (list, newest first), ``counters:<namespace>`` (hash, HINCRBY/HINCRBYFLOAT).
A version is written fully before it is added to ``versions``; ``set_live`` then flips the
pointer in a WATCH/MULTI transaction, so readers never see half a version.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from nbrec.store.base import (
    HISTORY_LENGTH,
    RECENT_SEEN,
    Ranked,
    StoredEmbeddings,
    StoreError,
    VersionTables,
    check_version_name,
    cleanup_versions,
    dumps,
    embeddings_from_blobs,
    embeddings_to_blobs,
    loads,
    ranked_from_json,
)

CHUNK = 2_000
KINDS = ("recs", "sim", "meta", "blob", "info")
EMB_KEYS = ("emb_header", "emb_items", "emb_bias", "emb_features")


class RedisStore:
    """``FeatureStore`` on a Redis server."""

    backend = "redis"

    def __init__(
        self, url: str, prefix: str = "nbrec", timeout: float = 1.0,
        request_timeout: float | None = None,
    ):  # fmt: skip
        self.url = redact(url)  # messages and reprs never carry the password
        self.prefix = prefix
        # Short timeouts: a slow store must turn into a fallback answer, not a hung request.
        self._r = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        # The request path's reads and writes have their own client with the time budget
        # (NBREC_STORE_TIMEOUT_MS) and no retries: redis-py retries 3 times by default, which
        # would multiply the budget. Bulk calls (publish, snapshots) keep ``timeout``.
        self._fast = self._r
        if request_timeout is not None:
            self._fast = redis.Redis.from_url(
                url, socket_timeout=request_timeout, socket_connect_timeout=request_timeout,
                retry=Retry(NoBackoff(), 0), health_check_interval=30,
            )  # fmt: skip

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _call(self, func, *args):
        """``func(*args)`` with Redis errors as ``StoreError`` (a pipeline's I/O is its
        ``execute``: queueing commands on it talks to nobody)."""
        try:
            return func(*args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self.url}: {exc}") from exc

    # -- versions ---------------------------------------------------------------------------
    def write_version(self, version: str, tables: VersionTables) -> None:
        check_version_name(version)
        if self._call(self._r.zscore, self._k("versions"), version) is not None:
            raise ValueError(f"version {version!r} already exists; publish under a new version")
        blobs: dict[str, bytes] = {"popular": dumps(tables.popular)}
        if tables.embeddings is not None:
            blobs.update(embeddings_to_blobs(tables.embeddings))
        hashes = {
            "recs": {u: dumps(r) for u, r in tables.user_recs.items()},
            "sim": {i: dumps(r) for i, r in tables.similar.items()},
            "meta": {i: dumps(m) for i, m in tables.item_meta.items()},
            "blob": blobs,
            "info": {"info": dumps(tables.info)},
        }
        try:
            self._r.delete(*(self._k("v", version, kind) for kind in KINDS))
            for kind, mapping in hashes.items():
                items = list(mapping.items())
                for lo in range(0, len(items), CHUNK):
                    self._r.hset(self._k("v", version, kind), mapping=dict(items[lo : lo + CHUNK]))
            self._r.zadd(self._k("versions"), {version: time.time()})
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self.url}: writing {version!r} failed: {exc}") from exc

    def set_live(self, version: str) -> None:
        live_key, history_key = self._k("live"), self._k("live_history")
        versions_key = self._k("versions")
        try:
            with self._r.pipeline() as pipe:
                while True:
                    try:
                        # Watching the version list too: a delete_version of this version
                        # between the check and the flip makes the flip retry (and refuse).
                        pipe.watch(live_key, versions_key)
                        if pipe.zscore(versions_key, version) is None:
                            raise ValueError(
                                f"cannot make {version!r} live: no complete version by that name"
                            )
                        current = pipe.get(live_key)
                        pipe.multi()
                        pipe.set(live_key, version)
                        if current is not None and current.decode() != version:
                            pipe.lpush(history_key, current)
                            pipe.ltrim(history_key, 0, HISTORY_LENGTH - 1)
                        pipe.execute()
                        return
                    except redis.WatchError:
                        continue  # another publisher flipped it meanwhile: retry on the new state
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self.url}: {exc}") from exc

    def live_version(self) -> str | None:
        value = self._call(self._fast.get, self._k("live"))
        return value.decode() if value is not None else None

    def live_history(self) -> list[str]:
        values = self._call(self._r.lrange, self._k("live_history"), 0, HISTORY_LENGTH - 1)
        return [v.decode() for v in values]

    def list_versions(self) -> list[str]:
        return [v.decode() for v in self._call(self._r.zrevrange, self._k("versions"), 0, -1)]

    def version_info(self, version: str) -> dict[str, Any] | None:
        raw = self._call(self._r.hget, self._k("v", version, "info"), "info")
        return loads(raw) if raw is not None else None

    def delete_version(self, version: str) -> None:
        live_key = self._k("live")
        try:
            with self._r.pipeline() as pipe:
                while True:
                    try:
                        # The live check and the delete in one WATCH/MULTI: a set_live of this
                        # version in between makes the delete retry (and refuse).
                        pipe.watch(live_key)
                        if pipe.get(live_key) == version.encode():
                            raise ValueError(
                                f"cannot delete {version!r}: it is live; "
                                "make another version live first"
                            )
                        pipe.multi()
                        # Out of the version list first: nobody starts reading a half-deleted one.
                        pipe.zrem(self._k("versions"), version)
                        pipe.delete(*(self._k("v", version, kind) for kind in KINDS))
                        pipe.execute()
                        return
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self.url}: {exc}") from exc

    def cleanup(self, keep: int = 3) -> list[str]:
        return cleanup_versions(self, keep)

    # -- reads ------------------------------------------------------------------------------
    def user_recs(self, version: str, user_id: str) -> Ranked | None:
        return ranked_from_json(self._call(self._fast.hget, self._k("v", version, "recs"), user_id))

    def user_view(self, version: str, user_id: str) -> tuple[Ranked | None, list[str]]:
        # One round trip for both: the request path's only store call.
        pipe = self._fast.pipeline(transaction=False)
        pipe.hget(self._k("v", version, "recs"), user_id)
        pipe.lrange(self._k("seen", user_id), 0, RECENT_SEEN - 1)
        raw, seen = self._call(pipe.execute)
        return ranked_from_json(raw), [s.decode() for s in seen]

    def popular(self, version: str) -> Ranked:
        raw = self._call(self._r.hget, self._k("v", version, "blob"), "popular")
        return ranked_from_json(raw) or ([], [])

    def similar(self, version: str, item_id: str) -> Ranked | None:
        return ranked_from_json(self._call(self._fast.hget, self._k("v", version, "sim"), item_id))

    def item_meta(self, version: str, item_ids: list[str] | None = None) -> dict[str, dict]:
        key = self._k("v", version, "meta")
        if item_ids is None:
            raw = self._call(self._r.hgetall, key)
            return {k.decode(): loads(v) for k, v in raw.items()}
        values = self._call(self._r.hmget, key, item_ids) if item_ids else []
        return {i: loads(v) for i, v in zip(item_ids, values, strict=True) if v is not None}

    def item_vectors(self, version: str) -> StoredEmbeddings | None:
        values = self._call(self._r.hmget, self._k("v", version, "blob"), list(EMB_KEYS))
        return embeddings_from_blobs(dict(zip(EMB_KEYS, values, strict=True)))

    # -- recently seen, counters ------------------------------------------------------------
    def add_seen(self, user_id: str, item_id: str) -> None:
        key = self._k("seen", user_id)
        pipe = self._fast.pipeline(transaction=True)
        pipe.lrem(key, 0, item_id)
        pipe.lpush(key, item_id)
        pipe.ltrim(key, 0, RECENT_SEEN - 1)
        self._call(pipe.execute)

    def recent_seen(self, user_id: str) -> list[str]:
        values = self._call(self._fast.lrange, self._k("seen", user_id), 0, RECENT_SEEN - 1)
        return [v.decode() for v in values]

    def incr_counter(self, namespace: str, arm: str, pulls: int = 0, rewards: float = 0) -> None:
        key = self._k("counters", namespace)
        pipe = self._r.pipeline(transaction=True)
        pipe.hincrby(key, f"{arm}\tpulls", int(pulls))
        pipe.hincrbyfloat(key, f"{arm}\trewards", float(rewards))
        self._call(pipe.execute)

    def counters(self, namespace: str) -> dict[str, tuple[int, float]]:
        raw = self._call(self._r.hgetall, self._k("counters", namespace))
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
            return bool(self._fast.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._r.close()
        if self._fast is not self._r:
            self._fast.close()

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"


def redact(url: str) -> str:
    """``url`` with its password (and user name) replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
