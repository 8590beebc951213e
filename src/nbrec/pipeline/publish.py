"""Publish a fitted model to the feature store: the tables the request path looks up.

``publish(model, version, store)`` computes, from any fitted ``Recommender``: the top-N per
known user (items seen in training already removed), the popularity fallback, similar items
(the model's ``similar_items``: co-occurrence cosine unless the model knows better), item
metadata for filters, and the model's request-time embeddings when it has them; writes them as one version and (by default) makes it live.
The training pipeline calls exactly this function.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, ITEM_COL, TOP_N, VERSIONS_KEPT
from nbrec.models.base import Recommender, top_k
from nbrec.pipeline.scoring import score_all
from nbrec.progress import bar
from nbrec.store import FeatureStore, VersionTables, open_store
from nbrec.store.ranked import RankedTable

SIMILAR_N = 20  # similar items kept per item
SIM_BLOCK = 512  # items per block of item x item similarity rows


def user_top_n(model: Recommender, top_n: int) -> RankedTable:
    """Top-N per known user as arrays, seen items excluded (one scoring pass over all users;
    the training flow scores in shards with ``nbrec.pipeline.scoring`` instead)."""
    # 50,000 users per batch: top_k_rows' int64 codes stay small
    return score_all(model, min(top_n, len(model.item_ids_)), 50_000, desc="publish: top-N")


def popular_items(model: Recommender, top_n: int) -> tuple[list[str], list[float]]:
    """The popularity fallback: items by number of distinct users in training."""
    pop = np.asarray(model.item_popularity_, dtype=np.float32)[None, :]
    codes, scores = top_k(pop, min(top_n, pop.shape[1]))
    return model.item_ids_.to_numpy(dtype=object)[codes[0]].tolist(), scores[0].tolist()


def similar_table(model: Recommender, n: int = SIMILAR_N) -> dict:
    """Per item, its ``n`` most similar items: the model's ``similar_items``, in blocks."""
    ids = model.item_ids_.to_numpy(dtype=object)
    n = min(n, len(ids) - 1)
    # Every item gets an entry (maybe empty): a missing entry means "unknown item".
    out: dict[str, tuple[list[str], list[float]]] = {str(i): ([], []) for i in ids}
    if n < 1:
        return out
    blocks = range(0, len(ids), SIM_BLOCK)
    size = len(model.user_ids_)  # a bar for the publish of many users (on a terminal)
    for lo in bar(blocks, size=size, desc="publish: similar items", unit="block"):
        # Blocks keep memory at SIM_BLOCK x n_items whatever the catalogue's size.
        codes, scores = model.similar_rows(np.arange(lo, min(lo + SIM_BLOCK, len(ids))), n)
        for row in range(len(codes)):
            keep = np.isfinite(scores[row])
            out[str(ids[lo + row])] = (ids[codes[row][keep]].tolist(), scores[row][keep].tolist())
    return out


def item_metadata(items: pd.DataFrame | None, item_ids: pd.Index) -> dict[str, dict[str, Any]]:
    """Side columns of the catalogue items as JSON-safe dicts (for filters and display)."""
    if items is None or ITEM_COL not in items:
        return {}
    table = items.assign(**{ITEM_COL: items[ITEM_COL].astype(str)}).drop_duplicates(ITEM_COL)
    table = table[table[ITEM_COL].isin(set(item_ids))].set_index(ITEM_COL)
    meta: dict[str, dict[str, Any]] = {}
    columns = {
        col: (
            table[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            if pd.api.types.is_datetime64_any_dtype(table[col])
            else table[col]
        )
        for col in table.columns
    }
    for col, values in columns.items():
        for item, value in values.items():
            if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
                continue
            meta.setdefault(str(item), {})[col] = (
                value.item() if isinstance(value, np.generic) else value
            )
    return meta


def score_reference_from_recs(
    user_recs: Mapping[str, tuple[list, list[float]]],
    k: int = DEFAULT_K,
    size: int = 2_000,
    seed: int = DEFAULT_SEED,
) -> list[float]:
    """A sample of the top-k scores a version will serve, from its published per-user lists.

    Stored with the version (``info["score_reference"]`` in the feature store), it is the
    training run's score distribution wherever the version is served; the score-shift monitor
    (``nbrec.monitoring.model_health``) compares served scores with it.
    """
    if isinstance(user_recs, RankedTable):  # the same scores, without a list per user
        scores = user_recs.scores[:, :k].ravel().astype(float)
    else:
        scores = np.fromiter((s for _, row in user_recs.values() for s in row[:k]), float)
    scores = scores[np.isfinite(scores)]
    if scores.size > size:
        scores = np.random.default_rng(seed).choice(scores, size, replace=False)
    return np.round(scores, 6).tolist()


def build_tables(
    model: Recommender, version: str, items: pd.DataFrame | None = None, top_n: int = TOP_N,
    ranked: RankedTable | None = None,
) -> VersionTables:  # fmt: skip
    """Everything ``publish`` writes, computed in memory (useful to inspect or test).

    ``ranked``: the users' top-N already scored (the training flow's shards), published as
    they are (cut to ``top_n``) instead of scoring every user a second time.
    """
    model._check_fitted()
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}")
    now = time.time()
    info = {
        "version": version,
        "model": model.name,
        "params": model.get_params(),
        "published_at": now,
        "published_at_iso": datetime.fromtimestamp(now, UTC).isoformat(),
        "n_users": len(model.user_ids_),
        "n_items": len(model.item_ids_),
        "top_n": top_n,
    }
    emb = model.embeddings()
    info["has_embeddings"] = emb is not None
    user_recs = user_top_n(model, top_n) if ranked is None else ranked.head(top_n)
    # The scores this version will serve: the service's score-shift reference for it.
    info["score_reference"] = score_reference_from_recs(user_recs)
    return VersionTables(
        info=info,
        user_recs=user_recs,
        popular=popular_items(model, top_n),
        similar=similar_table(model),
        item_meta=item_metadata(items, model.item_ids_),
        embeddings=emb,
    )


def publish(
    model: Recommender,
    version: str,
    store: FeatureStore | str | None,
    items: pd.DataFrame | None = None,
    top_n: int = TOP_N,
    make_live: bool = True,
    keep: int = VERSIONS_KEPT,
    ranked: RankedTable | None = None,
) -> dict[str, Any]:
    """Write ``model``'s serving tables as ``version``; flip the live pointer if ``make_live``.

    ``store`` is a FeatureStore or a store URL (None -> ``NBREC_STORE_URL``; then opened and
    closed here). After a live flip, versions beyond the newest ``keep`` (never the live one)
    are deleted. ``ranked``: the top-N scoring already computed (see ``build_tables``).
    Returns a summary: version, live, users, items, seconds, deleted versions.
    """
    start = time.perf_counter()
    opened = store is None or isinstance(store, str)
    if opened:
        store = open_store(store)
    try:
        tables = build_tables(model, version, items, top_n, ranked)
        store.write_version(version, tables)
        deleted: list[str] = []
        if make_live:
            store.set_live(version)
            deleted = store.cleanup(keep=keep)
    finally:
        if opened:  # the caller gave a URL: the connections are ours to close
            store.close()
    return {
        "version": version,
        "live": make_live,
        "model": model.name,
        "users": len(tables.user_recs),
        "items": tables.info["n_items"],
        "has_embeddings": tables.embeddings is not None,
        "store": repr(store),
        "deleted": deleted,
        "seconds": round(time.perf_counter() - start, 3),
    }
