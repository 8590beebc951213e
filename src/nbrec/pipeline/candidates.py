"""Choosing and fitting the candidate model, and scoring rivals on the same validation split.

The pipeline holds out ``DEFAULT_VALIDATION_RATIO`` of each user's interactions (stratified,
seeded); the candidate, popularity and the live model's recipe are fitted on the rest and
compared on the held-out part. The published model is then refitted on all interactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, DEFAULT_VALIDATION_RATIO, USER_COL
from nbrec.data.schema import Dataset, deduplicate
from nbrec.data.splits import Split, split
from nbrec.evaluation.metrics import accuracy
from nbrec.evaluation.tuning import tune
from nbrec.models import Recommender, available, expand, make_model

METRIC = "ndcg"
# Not candidates for "auto": random is a floor, not a contender.
NOT_CANDIDATES = {"random"}


@dataclass
class Candidate:
    """The chosen model recipe and the validation metric of every recipe tried."""

    model: str
    params: dict
    score: float
    tried: dict[str, float] = field(default_factory=dict)


def validation_split(dataset: Dataset, seed: int = DEFAULT_SEED) -> Split:
    """Deduplicated interactions split per user into fit and validation parts."""
    return split(deduplicate(dataset.interactions), "stratified", test_ratio=DEFAULT_VALIDATION_RATIO,
                 validation=False, seed=seed)  # fmt: skip


def candidate_names(model: str) -> list[str]:
    """``"auto"`` -> every registered model but random; otherwise ``expand`` (checks names)."""
    if model == "auto":
        return [name for name in available() if name not in NOT_CANDIDATES]
    return expand(model)


def validation_score(
    name: str, params: dict, data_split: Split, dataset: Dataset, k: int = DEFAULT_K
) -> float:
    """NDCG@k on the validation part of a recipe fitted on the fit part."""
    model = make_model(name, **params).fit(data_split.train, dataset.items, dataset.users)
    recs = model.recommend(data_split.test[USER_COL].unique(), k)
    return float(accuracy(recs, data_split.test, k)[f"{METRIC}@{k}"])


def choose_candidate(
    model: str, data_split: Split, dataset: Dataset, k: int = DEFAULT_K, tune_params: bool = False,
    params: dict | None = None,
) -> Candidate:  # fmt: skip
    """Score each recipe on validation (optionally tuning it first) and keep the best."""
    tried, recipes = {}, {}
    for name in candidate_names(model):
        chosen = dict(params or {})
        if tune_params and not chosen:
            # tune() fits on sub_train / scores on validation; give it our split in that shape.
            nested = Split(data_split.train, data_split.test, data_split.train, data_split.test)
            chosen, _ = tune(name, nested, k, METRIC, items=dataset.items, users=dataset.users)
        recipes[name] = chosen
        tried[name] = validation_score(name, chosen, data_split, dataset, k)
    if not tried:
        raise ValueError(f"no candidate models for --model {model!r}; available: {available()}")
    best = max(tried, key=tried.get)
    return Candidate(best, recipes[best], tried[best], tried)


def fit_final(candidate: Candidate, dataset: Dataset) -> Recommender:
    """The recipe refitted on every (deduplicated) interaction: the model that gets published."""
    data = deduplicate(dataset.interactions)
    return make_model(candidate.model, **candidate.params).fit(data, dataset.items, dataset.users)


def seen_pairs(dataset: Dataset) -> pd.DataFrame:
    """(user_id, item_id) pairs of the training data, for the recommendations suite."""
    return dataset.interactions[[USER_COL, "item_id"]].drop_duplicates()
