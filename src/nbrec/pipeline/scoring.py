"""Batch scoring of every user, in shards, on a Prefect task runner.

Shards are the unit of parallelism: locally a thread pool (numpy releases the GIL in the
matrix products), on a cluster Dask (prefect-dask) when ``NBREC_TASK_RUNNER`` says so.
Nothing here is home-made distribution: the task runner is Prefect's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbrec.constants import DEFAULT_K
from nbrec.models import Recommender

DEFAULT_SHARD_SIZE = 5_000


def shards(user_ids, shard_size: int = DEFAULT_SHARD_SIZE) -> list[np.ndarray]:
    """Split user ids into consecutive chunks of at most ``shard_size``."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    ids = np.asarray(user_ids)
    return [ids[lo : lo + shard_size] for lo in range(0, len(ids), shard_size)]


def score_shard(model: Recommender, user_ids: np.ndarray, k: int = DEFAULT_K) -> pd.DataFrame:
    """Top-k (seen items excluded) for one shard of known users."""
    return model.recommend(user_ids, k, exclude_seen=True, unknown="drop")


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
