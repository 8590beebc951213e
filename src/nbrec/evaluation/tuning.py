"""Hyperparameter search on the validation split only (the test split is never touched)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, USER_COL
from nbrec.data.splits import Split
from nbrec.evaluation.metrics import accuracy
from nbrec.models import make_model
from nbrec.models.registry import get_model_class


def candidates(space: dict[str, list], max_trials: int, seed: int = DEFAULT_SEED) -> list[dict]:
    """The grid of ``space``, or ``max_trials`` points drawn from it without replacement."""
    grid = [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]
    if len(grid) <= max_trials:
        return grid
    picks = np.random.default_rng(seed).choice(len(grid), size=max_trials, replace=False)
    return [grid[i] for i in sorted(picks)]


def tune(
    model_name: str,
    split: Split,
    k: int = DEFAULT_K,
    metric: str = "ndcg",
    max_trials: int = 12,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    progress: bool = False,
) -> tuple[dict, pd.DataFrame]:
    """Fit each candidate on ``split.sub_train``, score on ``split.validation``; best first.

    Returns (best params, trials frame with one row per candidate and its validation metric).
    """
    space = get_model_class(model_name).search_space
    if not space:
        return {}, pd.DataFrame()
    tuning = split.tuning()
    target = f"{metric}@{k}"
    tried = candidates(space, max_trials)
    scores = [
        fit_and_score(model_name, params, tuning, k, metric, items, users)
        for params in tqdm(tried, desc=f"tune {model_name}", disable=not progress)
    ]
    # The best candidate's own dict, so parameter types survive (a frame row would make ints floats).
    best = tried[int(np.argmax(scores))]
    trials = pd.DataFrame([{**p, target: s} for p, s in zip(tried, scores, strict=True)])
    return best, trials.sort_values(target, ascending=False, kind="stable").reset_index(drop=True)


def fit_and_score(
    model_name: str,
    params: dict,
    split: Split,
    k: int = DEFAULT_K,
    metric: str = "ndcg",
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
) -> float:
    """``metric@k`` of ``model_name(**params)`` fitted on ``split.train``, scored on ``split.test``."""
    model = make_model(model_name, **params).fit(split.train, items, users)
    recs = model.recommend(split.test[USER_COL].unique(), k=k)
    return accuracy(recs, split.test, k)[f"{metric}@{k}"]
