"""The model lifecycle across the model store and the feature store: publish, promote, roll back.

The model store (``nbrec.pipeline.model_store``, BentoML's) holds every version's model and metadata; the feature
store holds the serving tables of published versions and the live pointer. Promoting a
version that is registered but not published publishes it first, from the checksummed
artifacts.
"""

from __future__ import annotations

import logging

import pandas as pd

from nbrec.constants import TOP_N
from nbrec.errors import BadValueError
from nbrec.models import Recommender
from nbrec.pipeline import model_store
from nbrec.pipeline.publish import publish
from nbrec.pipeline.snapshot import snapshot_items
from nbrec.progress import bar, shown
from nbrec.store import FeatureStore, open_store
from nbrec.store.ranked import RankedTable

log = logging.getLogger(__name__)
READ_PART = 100_000  # users read back per part when a bar is shown


def publish_version(
    model: Recommender, version: str, store: FeatureStore, items: pd.DataFrame | None = None,
    top_n: int = TOP_N, ranked: RankedTable | None = None,
) -> bool:  # fmt: skip
    """Write the serving tables of ``version`` (not live yet); False if they were already there.
    ``ranked``: the top-N the run's scoring computed (else scored here)."""
    if version in store.list_versions():
        return False
    publish(model, version, store, items=items, top_n=top_n, make_live=False, ranked=ranked)
    return True


def published_recs(store: FeatureStore, version: str, user_ids, k: int) -> pd.DataFrame:
    """Read the top-k of each user back from the store, as a recommendations frame.

    Batched reads (a round trip per few thousand users) decoded into the frame in a few
    vectorised steps (``FeatureStore.user_recs_top_k``), not one call or list per user; past
    ``PROGRESS_MIN_ROWS`` users, in parts of ``READ_PART`` with a bar (on a terminal).
    """
    users = [str(user) for user in user_ids]
    if not shown(len(users)):
        return store.user_recs_top_k(version, users, k)
    parts = range(0, len(users), READ_PART)
    return pd.concat([store.user_recs_top_k(version, users[lo : lo + READ_PART], k)
                      for lo in bar(parts, size=len(users), desc="read back", unit="part")],
                     ignore_index=True)  # fmt: skip


def live_version(store: FeatureStore | None = None) -> str | None:
    return (store or open_store()).live_version()


def live_recipe(store: FeatureStore | None = None) -> tuple[str | None, tuple[str, dict] | None]:
    """(live version, its (model, params) from the model store); the recipe is None when
    nothing is live or the live version is not in the model store (then logged)."""
    live = live_version(store)
    if live is None:
        return None, None
    try:
        entry = model_store.get_model_version(live)
    except KeyError:
        log.warning("live version %s is not in the model store: no live comparison", live)
        return live, None
    return live, (entry.model, entry.metadata.get("params", {}))


def promote(version: str, store: FeatureStore | None = None) -> str:
    """Make ``version`` live, publishing it from the model store first if the store lacks it."""
    store = store or open_store()
    if version not in store.list_versions():
        entry = model_store.get_model_version(version)  # KeyError naming the registered versions
        # Item metadata (what request filters match on) is not in the model store: it comes from
        # the snapshot the version was trained on, while that is still there.
        data_hash = entry.metadata.get("data_hash")
        items = snapshot_items(data_hash) if data_hash else None
        publish_version(model_store.load_model(version), version, store, items=items,
                        top_n=int(entry.metadata.get("top_n", TOP_N)))  # fmt: skip
    store.set_live(version)
    return version


def rollback(store: FeatureStore | None = None) -> str:
    """Make the previously live version live again; returns it."""
    store = store or open_store()
    published = set(store.list_versions())
    history = [v for v in store.live_history() if v in published]
    if not history:
        raise BadValueError(
            "nothing to roll back to: no previous live version in the feature store"
        )
    store.set_live(history[0])
    return history[0]


def models_table(store: FeatureStore | None = None) -> pd.DataFrame:
    """Registered versions, newest first, with their metrics and whether they are live."""
    store = store or open_store()
    live, published = store.live_version(), set(store.list_versions())
    rows = [
        {
            "version": v.version,
            "created": v.created[:19],
            "model": v.model,
            "metric": v.metrics.get("metric"),
            "candidate": v.metrics.get("candidate"),
            "popularity": v.metrics.get("popularity"),
            "data_hash": v.metadata.get("data_hash"),
            "published": v.version in published,
            "live": v.version == live,
        }  # fmt: skip
        for v in model_store.list_model_versions()
    ]
    return pd.DataFrame(rows, columns=["version", "created", "model", "metric", "candidate", "popularity",
                                       "data_hash", "published", "live"])  # fmt: skip
