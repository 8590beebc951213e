"""Where the Redis store keeps what: one key layout for a single Redis and a Redis Cluster.

A cluster places a key by the CRC16 of its hash tag (the text between the first ``{`` and
``}``), or of the whole key without one. The layout uses that in two ways:

- **One control slot** ``{<prefix>}``: the version list, the live pointer, its history and the
  bandit counters. ``set_live`` and ``delete_version`` WATCH several of these keys in one
  MULTI/EXEC, which a cluster only allows inside one slot.
- **Buckets spread over the cluster**: per-user (and per-item) data go to one of ``BUCKETS``
  hashes per version, tagged ``{b<n>}`` with ``n = crc32(id) % BUCKETS``. The buckets' tags
  land on ~1000 slots, so a version's users are spread over every master; a user's recently
  seen list carries the same tag as the user's bucket, so the request path's one lookup
  (top-N and seen items) goes to one node in one round trip.

Keys (prefix ``nbrec``)::

    {nbrec}:versions            zset   complete versions by creation time
    {nbrec}:live                string the live version
    {nbrec}:live_history        list   previously live versions, newest first
    {nbrec}:writing             set    versions being written (publish not finished)
    {nbrec}:counters:<ns>       hash   "<arm>\\tpulls" / "<arm>\\trewards"
    nbrec:v:<version>:info      hash   "info" -> JSON
    nbrec:v:<version>:meta      hash   item -> JSON metadata
    nbrec:v:<version>:blob      hash   "popular", embeddings (raw float32)
    nbrec:v:<version>:recs:{b<n>}  hash  user -> JSON ranked list
    nbrec:v:<version>:sim:{b<n>}   hash  item -> JSON ranked list
    nbrec:seen:{b<n>}:<user>    list   recently seen items, newest first
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable

# Hashes per version and kind. Fixed, so a reader computes a key from an id alone; 1024 tags
# spread a version evenly over any cluster of up to a few hundred masters.
BUCKETS = 1024
VERSION_KINDS = ("info", "meta", "blob")  # one key each per version
BUCKETED_KINDS = ("recs", "sim")  # BUCKETS keys each per version


def bucket_of(key_id: str) -> int:
    """The bucket of a user or item id: stable across processes and machines."""
    return zlib.crc32(key_id.encode("utf-8", "surrogatepass")) % BUCKETS


class KeyLayout:
    """Key names of one store (``prefix`` separates several nbrec stores in one Redis)."""

    def __init__(self, prefix: str = "nbrec"):
        self.prefix = prefix
        control = "{" + prefix + "}"
        self.control = control
        self.versions = f"{control}:versions"
        self.live = f"{control}:live"
        self.live_history = f"{control}:live_history"
        self.writing = f"{control}:writing"
        self._tags = [f"{{b{n}}}" for n in range(BUCKETS)]

    def counters(self, namespace: str) -> str:
        return f"{self.control}:counters:{namespace}"

    def version(self, version: str, kind: str) -> str:
        """A version-wide key: ``info``, ``meta`` or ``blob``."""
        return f"{self.prefix}:v:{version}:{kind}"

    def bucket(self, version: str, kind: str, n: int) -> str:
        return f"{self.prefix}:v:{version}:{kind}:{self._tags[n]}"

    def bucketed(self, version: str, kind: str, key_id: str) -> str:
        """The hash of ``version`` holding ``key_id``'s entry of ``kind`` (``recs``, ``sim``)."""
        return self.bucket(version, kind, bucket_of(key_id))

    def seen(self, user_id: str) -> str:
        return f"{self.prefix}:seen:{self._tags[bucket_of(user_id)]}:{user_id}"

    def all_of_version(self, version: str) -> list[str]:
        """Every key a version can occupy (for deleting it, also when half written)."""
        keys = [self.version(version, kind) for kind in VERSION_KINDS]
        for kind in BUCKETED_KINDS:
            keys += [self.bucket(version, kind, n) for n in range(BUCKETS)]
        return keys

    def group(self, version: str, kind: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """``ids`` grouped by the bucket hash that holds them, in first-seen order."""
        groups: dict[str, list[str]] = defaultdict(list)
        for key_id in ids:
            groups[self.bucketed(version, kind, key_id)].append(key_id)
        return groups
