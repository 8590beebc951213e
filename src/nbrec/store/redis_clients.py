"""The Redis store's connections: a single Redis or a Redis Cluster, built from a store URL.

``redis://host:port/db`` (or ``rediss://``, ``unix://``) is one server; ``redis+cluster://host:port``
(or ``rediss+cluster://``) is any node of a Redis Cluster, from which redis-py's ``RedisCluster``
discovers the others and follows failovers and slot moves.

Each store has two clients: the *bulk* client (publish, snapshots, admin: a second-long timeout
and redis-py's retries) and the *fast* client of the request path (``NBREC_STORE_TIMEOUT_MS``,
no retries: a retry would multiply the time budget). A cluster client talks to the cluster as
soon as it is built, so both are built on first use: opening a store never connects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from nbrec.redaction import redact_url
from nbrec.store.redis_exchange import Exchange

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SINGLE_SCHEMES = ("redis", "rediss", "unix")
# Everything redis-py raises when a store cannot answer (RedisClusterException is not a
# RedisError: e.g. "all slots are not covered" while a cluster fails over).
REDIS_ERRORS = (redis.RedisError, RedisClusterException)

Client = redis.Redis | RedisCluster


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def is_redis_url(url: str) -> bool:
    scheme = urlsplit(url).scheme
    return scheme in SINGLE_SCHEMES or scheme in CLUSTER_SCHEMES


def _cluster_node_url(url: str) -> str:
    """The plain URL of the node named in a ``redis+cluster://`` URL (what redis-py parses)."""
    parts = urlsplit(url)
    if parts.path not in ("", "/", "/0"):
        raise ValueError(
            f"invalid Redis Cluster URL {redact_url(url)!r}: a cluster has no databases; "
            "use redis+cluster://host:port"
        )
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES[parts.scheme], path=""))


class RedisClients:
    """The bulk and the fast client of one store URL, built on first use."""

    def __init__(self, url: str, timeout: float = 1.0, request_timeout: float | None = None):
        self.cluster = is_cluster_url(url)
        self._url = _cluster_node_url(url) if self.cluster else url
        self._timeout = timeout
        self._request_timeout = request_timeout
        self._bulk: Client | None = None
        self._fast: Client | None = None
        self._lock = threading.Lock()
        self._exchange = Exchange()

    def _build(self, timeout: float, retries: bool) -> Client:
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": 30,
        }
        if not retries:
            options["retry"] = Retry(NoBackoff(), 0)
        if self.cluster:
            return RedisCluster.from_url(self._url, **options)
        return redis.Redis.from_url(self._url, **options)

    @property
    def bulk(self) -> Client:
        client = self._bulk
        if client is None:
            with self._lock:
                if self._bulk is None:
                    self._bulk = self._build(self._timeout, retries=True)
                client = self._bulk
        return client

    @property
    def fast(self) -> Client:
        client = self._fast
        if client is None:
            if self._request_timeout is None:
                return self.bulk
            with self._lock:
                if self._fast is None:
                    self._fast = self._build(self._request_timeout, retries=False)
                client = self._fast
        return client

    def round_trip(self, key: str, *commands: tuple) -> list:
        """The replies to ``commands`` (all on ``key``'s slot) in one round trip on a pooled
        connection of the fast client (of the node holding ``key`` on a cluster).

        What ``pipeline(transaction=False)`` sends, without its per-call bookkeeping (a
        pipeline object, command stack, retry and callback machinery): about a third of the
        request path's CPU on Redis (benchmarks/serving/RESULTS.md); and exchanged on a
        connection of this thread's own, with hiredis directly (``Exchange``). The replies are raw
        (bytes, lists of bytes): only for commands redis-py does not post-process. On a
        cluster, an error (a redirection after a slot move or a failover, a node down) or a
        node not known yet sends the commands again through redis-py's cluster pipeline,
        which follows redirections and refreshes its slot map as before.
        """
        client = self.fast
        if self.cluster:
            try:
                node = client.get_node_from_key(key)
            except REDIS_ERRORS:
                node = None
            target = node.redis_connection if node is not None else None
            if target is None:
                return self._pipelined(client, commands)
            try:
                return self._send(target.connection_pool, commands)
            except REDIS_ERRORS:  # redis-py's way: redirections, topology refresh, its errors
                return self._pipelined(client, commands)
        return self._send(client.connection_pool, commands)

    def _send(self, pool, commands: tuple[tuple, ...]) -> list:
        replies = self._exchange.send(pool, commands)  # nbrec.store.redis_exchange
        if replies is not None:
            return replies
        conn = pool.get_connection()  # redis-py's way (no hiredis)
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            return [conn.read_response() for _ in commands]
        except BaseException:
            conn.disconnect()  # replies may be left unread on it
            raise
        finally:
            pool.release(conn)

    @staticmethod
    def _pipelined(client, commands: tuple[tuple, ...]) -> list:
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return pipe.execute()

    def ping(self) -> bool:
        """True if every master answers (a cluster), or the server does."""
        client = self.fast
        if self.cluster:
            return bool(client.ping(target_nodes=RedisCluster.PRIMARIES))
        return bool(client.ping())

    def close(self) -> None:
        self._exchange.close()
        with self._lock:
            for client in {id(c): c for c in (self._bulk, self._fast) if c is not None}.values():
                client.close()
            self._bulk = self._fast = None


def hset_batches(client: Client, mappings: Iterable[tuple[str, dict]], batch: int) -> None:
    """HSET every (key, mapping), about ``batch`` fields per pipeline round trip (a cluster
    pipeline sends each node its share)."""
    pipe, queued = client.pipeline(transaction=False), 0
    for key, mapping in mappings:
        items = list(mapping.items())  # an empty mapping queues nothing (HSET would refuse it)
        for lo in range(0, len(items), batch):
            part = dict(items[lo : lo + batch])
            pipe.hset(key, mapping=part)
            queued += len(part)
            if queued >= batch:
                pipe.execute()
                queued = 0
    if queued:
        pipe.execute()


def unlink_each(client: Client, keys: list[str]) -> None:
    """One UNLINK per key in a pipeline: a cluster refuses multi-key commands across slots."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.unlink(key)
    pipe.execute()
