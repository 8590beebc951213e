"""Batch scoring of every user, in shards, on a Prefect task runner.

One pass computes each user's top-N (the depth the service serves from the feature store);
the top-k that validation checks is its first k columns, and publish writes the same arrays.
Shards are the unit of parallelism: locally a thread pool (numpy releases the GIL in the
matrix products), on a cluster Dask (prefect-dask) when ``NBREC_TASK_RUNNER`` says so.
Nothing here is home-made distribution: the task runner is Prefect's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from nbrec.models import Recommender
from nbrec.progress import bar
from nbrec.store.ranked import ItemTable, RankedTable

DEFAULT_SHARD_SIZE = 5_000


def shards(user_ids, shard_size: int = DEFAULT_SHARD_SIZE) -> list[np.ndarray]:
    """Split user ids into consecutive chunks of at most ``shard_size``."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    ids = np.asarray(user_ids)
    return [ids[lo : lo + shard_size] for lo in range(0, len(ids), shard_size)]


def score_rows(model: Recommender, rows: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Item codes (int32) and scores (float32) of the top-``depth`` items (seen items excluded)
    of the users at ``rows`` of the model, best first; -inf where nothing is left."""
    codes, scores = model.top_k_rows(np.asarray(rows), min(depth, len(model.item_ids_)))
    return codes.astype(np.int32), scores


def score_all(
    model: Recommender, depth: int, shard_size: int = DEFAULT_SHARD_SIZE, workers: int = 1,
    desc: str = "score users",
) -> RankedTable:  # fmt: skip
    """Every user's top-``depth`` in one pass over shards, on ``workers`` threads (numpy
    releases the GIL): what the training flow's scoring tasks compute, without Prefect."""
    parts_of = shards(np.arange(len(model.user_ids_)), shard_size)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = pool.map(lambda rows: score_rows(model, rows, depth), parts_of)
        parts = list(in_order(done, len(model.user_ids_), len(parts_of), desc))
    return ranked_table(model, parts)


def in_order(results, n_users: int, n_shards: int, desc: str = "score users"):
    """Shard results as they come, in order, with a bar over the shards past
    ``PROGRESS_MIN_ROWS`` users (on a terminal); Prefect futures are resolved here."""
    for result in bar(results, size=n_users, total=n_shards, desc=desc, unit="shard"):
        yield result.result() if hasattr(result, "result") else result


def ranked_table(model: Recommender, parts: list[tuple[np.ndarray, np.ndarray]]) -> RankedTable:
    """The shards' arrays, in row order, as every user's ranked list."""
    width = min((p[0].shape[1] for p in parts), default=0)
    codes = np.concatenate([p[0][:, :width] for p in parts]) if parts else np.empty((0, 0))
    scores = np.concatenate([p[1][:, :width] for p in parts]) if parts else np.empty((0, 0))
    return RankedTable(model.user_ids_, ItemTable(model.item_ids_), codes, scores)


def make_task_runner(spec: str = ""):
    """A Prefect task runner from ``NBREC_TASK_RUNNER``: "" threads, "dask", "dask://host:port"."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if not spec or spec == "threads":
        return ThreadPoolTaskRunner(max_workers=2)
    if spec == "dask" or spec.startswith(("dask://", "tcp://")):
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ValueError(
                f"NBREC_TASK_RUNNER={spec!r} needs prefect-dask: pip install prefect-dask"
            ) from None
        if spec == "dask":
            return DaskTaskRunner()
        return DaskTaskRunner(address=spec.replace("dask://", "tcp://", 1))
    raise ValueError(f"unknown NBREC_TASK_RUNNER {spec!r}: use '', 'dask' or 'dask://host:port'")
