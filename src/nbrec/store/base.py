"""The ``FeatureStore`` protocol and the tables a model version is published as.

A store holds, per model version, everything the request path looks up: the precomputed top-N
per user, the popularity fallback, similar items, item metadata for filters and the vectors
that score a cold-start user with one dot product. A live pointer names the version served;
it flips atomically. Besides versions, a store keeps per-user recently-seen items and bandit
counters (atomic increments) shared by all service workers.

Nothing is pickled: per-user lists are item codes and float32 scores against the version's
item table (``nbrec.store.ranked``), other ranked lists and metadata JSON, vectors raw
little-endian float32.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import orjson
import pandas as pd

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL, USER_COL, VERSIONS_KEPT
from nbrec.embeddings import Embeddings
from nbrec.store.ranked import CorruptList, ItemTable, Ranked

# What the request path reads in one store call: (top-N list or None, recently seen items).
UserView = tuple[Ranked | None, list[str]]

RECENT_SEEN = 50  # per user, newest first; older ones drop off
HISTORY_LENGTH = 20  # previous live versions remembered for rollback


class StoreError(RuntimeError):
    """The store could not answer (connection lost, locked, corrupt): callers fall back."""


@dataclass
class VersionTables:
    """Everything published for one model version (see ``nbrec.pipeline.publish``)."""

    info: dict[str, Any]
    user_recs: Mapping[str, Ranked]  # a ``RankedTable`` when published from a model
    popular: Ranked
    similar: dict[str, Ranked] = field(default_factory=dict)
    item_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    embeddings: Embeddings | None = None


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


loads = orjson.loads


def ranked_from_json(raw: bytes | str | None) -> Ranked | None:
    if raw is None:
        return None
    items, scores = loads(raw)
    return items, scores


def _head(raw: bytes, head: int) -> Ranked:
    items, scores = loads(raw)  # a list published as JSON (before item tables)
    return items[: max(head, 0)], scores[: max(head, 0)]


class ItemTables:
    """The item tables of the versions a store reads, loaded once per version and process.

    ``load(version)`` returns the stored table (None: the version's lists are JSON, published
    before tables existed). A list that does not fit the cached table makes it reload once (the
    version was deleted and published again under its name); still not fitting is a
    ``StoreError``. Bounded: a few versions' item ids, never per-user data.
    """

    def __init__(self, load: Callable[[str], bytes | None], size: int = 8):
        self._load, self._size = load, size
        self._tables: OrderedDict[str, ItemTable | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str) -> ItemTable | None:
        try:
            return self._tables[version]
        except KeyError:
            pass
        with self._lock:
            if version not in self._tables:
                blob = self._load(version)
                self._tables[version] = ItemTable.from_blob(blob) if blob is not None else None
                while len(self._tables) > self._size:
                    self._tables.popitem(last=False)
            return self._tables[version]

    def forget(self, version: str) -> None:
        with self._lock:
            self._tables.pop(version, None)

    def _checked(self, version: str, read: Callable[[ItemTable | None], Any]) -> Any:
        try:
            return read(self.get(version))
        except CorruptList:
            self.forget(version)
        try:
            return read(self.get(version))
        except CorruptList as exc:
            raise StoreError(f"version {version!r}: {exc}") from exc

    def decode(
        self, version: str, raw: bytes | None, head: int | None = None, skip: int = 0
    ) -> Ranked | None:
        """The stored list ``raw``; with ``head``, only its first ``head + skip`` items."""
        if raw is None:
            return None
        if head is None:
            return self._checked(version, lambda t: t.decode(raw) if t else ranked_from_json(raw))
        cut = head + skip
        return self._checked(version, lambda t: t.decode(raw, cut) if t else _head(raw, cut))

    def decode_many(self, version: str, raws: Sequence[bytes | None]) -> list[Ranked | None]:
        def read(table: ItemTable | None) -> list[Ranked | None]:
            decode = table.decode if table else ranked_from_json
            return [None if raw is None else decode(raw) for raw in raws]

        return self._checked(version, read)

    def top_k_frame(
        self, version: str, users: Sequence[str], raws: Sequence[bytes | None], k: int
    ) -> pd.DataFrame:
        def read(table: ItemTable | None) -> pd.DataFrame:
            if table is not None:
                return table.top_k_frame(users, raws, k)
            rows = [(user, item, float(score), rank)
                    for user, raw in zip(users, raws, strict=True) if raw is not None
                    for rank, (item, score) in enumerate(zip(*ranked_from_json(raw), strict=True), 1)
                    if rank <= k]  # fmt: skip
            return pd.DataFrame(rows, columns=[USER_COL, ITEM_COL, SCORE_COL, RANK_COL])

        return self._checked(version, read)


def embeddings_to_blobs(emb: Embeddings) -> dict[str, bytes]:
    """Embeddings as named byte strings: a JSON header plus raw float32 arrays."""
    vectors = np.ascontiguousarray(emb.item_vectors, dtype="<f4")
    features = np.ascontiguousarray(emb.user_feature_vectors, dtype="<f4")
    header = {
        "item_ids": emb.item_ids,
        "dim": int(vectors.shape[1]) if vectors.ndim == 2 else 0,
        "user_feature_names": emb.user_feature_names,
    }
    return {
        "emb_header": dumps(header),
        "emb_items": vectors.tobytes(),
        "emb_bias": np.ascontiguousarray(emb.item_bias, dtype="<f4").tobytes(),
        "emb_features": features.tobytes(),
    }


def embeddings_from_blobs(blobs: dict[str, bytes | None]) -> Embeddings | None:
    if not blobs.get("emb_header"):
        return None
    header = loads(blobs["emb_header"])
    dim = header["dim"]
    items = np.frombuffer(blobs["emb_items"] or b"", dtype="<f4").reshape(-1, dim)
    feats = np.frombuffer(blobs["emb_features"] or b"", dtype="<f4").reshape(-1, dim)
    return Embeddings(
        item_ids=header["item_ids"],
        item_vectors=items,
        item_bias=np.frombuffer(blobs["emb_bias"] or b"", dtype="<f4"),
        user_feature_names=header["user_feature_names"],
        user_feature_vectors=feats,
    )


@runtime_checkable
class FeatureStore(Protocol):
    """What the service and the pipeline need from a store; SQLite and Redis implement it."""

    backend: str  # "sqlite" | "redis" (one server or a cluster), a metrics label

    # -- versions and the live pointer ------------------------------------------------------
    def write_version(self, version: str, tables: VersionTables) -> None: ...
    def set_live(self, version: str) -> None: ...
    def live_version(self) -> str | None: ...
    def live_history(self) -> list[str]: ...
    def list_versions(self) -> list[str]: ...
    def version_info(self, version: str) -> dict[str, Any] | None: ...
    def delete_version(self, version: str) -> None: ...
    def cleanup(self, keep: int = VERSIONS_KEPT) -> list[str]: ...

    # -- reads of one version ---------------------------------------------------------------
    def user_recs(self, version: str, user_id: str) -> Ranked | None: ...
    def user_recs_many(self, version: str, user_ids: Sequence[str]) -> list[Ranked | None]:
        """``user_recs`` of many users in batches (one round trip each), in their order."""
        ...

    def user_recs_top_k(self, version: str, user_ids: Sequence[str], k: int) -> pd.DataFrame:
        """The first ``k`` items of many users' lists as a recommendations frame (``user_id,
        item_id, score, rank``; users without a list left out), read in batches and decoded
        without building a Python list per user: the pipeline's read-back."""
        ...

    def user_view(self, version: str, user_id: str, head: int | None = None) -> UserView:
        """(top-N list or None, recently seen items, newest first) in one call. With ``head``
        the list may be cut after its first ``head + len(seen)`` items: enough for a caller
        that keeps at most ``head`` items the user has not seen."""
        ...

    def popular(self, version: str) -> Ranked: ...
    def similar(self, version: str, item_id: str) -> Ranked | None: ...
    def item_meta(self, version: str, item_ids: list[str] | None = None) -> dict[str, dict]: ...
    def item_vectors(self, version: str) -> Embeddings | None: ...

    # -- per-user recently seen items, bandit counters --------------------------------------
    def add_seen(self, user_id: str, item_id: str) -> None: ...
    def recent_seen(self, user_id: str) -> list[str]: ...
    def incr_counter(
        self, namespace: str, arm: str, pulls: int = 0, rewards: float = 0
    ) -> None: ...
    def counters(self, namespace: str) -> dict[str, tuple[int, float]]: ...

    # -- lifecycle --------------------------------------------------------------------------
    def ping(self) -> bool: ...
    def close(self) -> None: ...


def cleanup_versions(store: FeatureStore, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest versions, never the live one; returns the deleted."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    live = store.live_version()
    doomed = [v for v in store.list_versions()[keep:] if v != live]
    for version in doomed:
        store.delete_version(version)
    return doomed


def check_version_name(version: str) -> str:
    """Versions become keys and file names: keep them short and plain."""
    if not version or len(version) > 128 or not all(c.isalnum() or c in "-_.:" for c in version):
        raise ValueError(
            f"invalid version {version!r}: use 1-128 characters from letters, digits and -_.:"
        )
    return version
