"""The in-process copy of one published version (``LoadedVersion``): what every request needs without a store call.

A snapshot holds the popularity fallback, item metadata (for filters) and the embeddings that
score a cold-start user; it is loaded once per version and is the last-known-good copy the
service answers from when the store is unreachable.
"""

from __future__ import annotations

from math import isfinite
from typing import Any

import numpy as np

from nbrec.embeddings import Embeddings
from nbrec.serving.schemas import as_list
from nbrec.store import FeatureStore, Ranked

COLD_CANDIDATES = 300  # cold-start scores are ranked over this many best items, then filtered


class UnknownVersion(LookupError):
    """The version is not (or no longer) in the store."""


class InvalidFilter(ValueError):
    """A filter on a key no item of the version has (the message names the known keys)."""


class LoadedVersion:
    """Immutable per-version data kept in memory."""

    def __init__(
        self,
        version: str,
        info: dict[str, Any],
        popular: Ranked,
        item_meta: dict[str, dict[str, Any]],
        embeddings: Embeddings | None,
    ):
        self.version = version
        self.info = info
        self.popular = popular
        self.item_meta = item_meta
        self.embeddings = embeddings
        self.feature_index = (
            {name: i for i, name in enumerate(embeddings.user_feature_names)} if embeddings else {}
        )
        self.item_ids = np.asarray(embeddings.item_ids, dtype=object) if embeddings else None
        # Every metadata key and its values ('|'-separated values count one by one), to tell a
        # client which filter matched nothing because no item has it.
        self.filter_values: dict[str, set[str]] = {}
        for meta in item_meta.values():
            for key, value in meta.items():
                if value is not None:
                    text = str(value)
                    self.filter_values.setdefault(key, set()).update((text, *text.split("|")))

    @classmethod
    def load(cls, store: FeatureStore, version: str) -> LoadedVersion:
        info = store.version_info(version)
        if info is None:
            raise UnknownVersion(f"model version {version!r} is not in the feature store {store!r}")
        return cls(
            version,
            info,
            store.popular(version),
            store.item_meta(version),
            store.item_vectors(version),
        )

    @property
    def published_at(self) -> float | None:
        return self.info.get("published_at")

    def unknown_filter_values(self, filters: dict[str, set[str]]) -> dict[str, list[str]]:
        """Filter values no item has, by key; ``InvalidFilter`` for a key no item has."""
        unknown: dict[str, list[str]] = {}
        for key, wanted in filters.items():
            known = self.filter_values.get(key)
            if known is None:
                raise InvalidFilter(
                    f"unknown filter key {key if key.isprintable() else ascii(key)!r}: model "
                    f"version {self.version} can filter on {sorted(self.filter_values)}"
                )
            missing = wanted - known
            if missing:
                unknown[key] = sorted(missing)
        return unknown

    def accepts(self, item_id: str, filters: dict[str, set[str]]) -> bool:
        """True if the item's metadata matches every filter ('|'-separated values match any)."""
        meta = self.item_meta.get(item_id)
        if meta is None:
            return False
        for key, allowed in filters.items():
            value = meta.get(key)
            if value is None:
                return False
            text = str(value)
            if text not in allowed and not any(v in allowed for v in text.split("|")):
                return False
        return True

    def feature_names(self, features: dict[str, list[str] | str]) -> list[str]:
        """Request features ({"country": "DE"}) as the model's feature names ("country=DE")."""
        names = [f"{key}={value}" for key, values in features.items() for value in as_list(values)]
        return [n for n in names if n in self.feature_index]

    def cold_start(self, names: list[str]) -> Ranked | None:
        """Score every item for a user described by feature ``names``: one dot product."""
        emb = self.embeddings
        if emb is None or not names:
            return None
        scores = emb.scores(np.asarray([self.feature_index[n] for n in names], dtype=np.int64))
        n = min(COLD_CANDIDATES, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return self.item_ids[top].tolist(), scores[top].astype(float).tolist()


def pick(
    ranked: Ranked,
    k: int,
    blocked: set[str],
    filters: dict[str, set[str]],
    snap: LoadedVersion | None,
) -> tuple[list[str], list[float | None]]:
    """The first ``k`` items of ``ranked`` not blocked and passing the filters; NaN -> None."""
    ranked_items, ranked_scores = ranked
    head = ranked_items[:k]
    if not filters and len(ranked_items) == len(ranked_scores) and blocked.isdisjoint(head):
        # The common case: the list's first k items themselves.
        finite = [s if s is not None and isfinite(s) else None for s in ranked_scores[:k]]
        return list(head), finite
    items: list[str] = []
    scores: list[float | None] = []
    for item, score in zip(ranked_items, ranked_scores, strict=True):
        if item in blocked or (filters and not snap.accepts(item, filters)):
            continue
        items.append(item)
        scores.append(score if score is not None and isfinite(score) else None)
        if len(items) == k:
            break
    return items, scores
