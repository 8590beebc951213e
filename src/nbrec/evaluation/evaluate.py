"""``evaluate``: every leaderboard metric for one model's recommendations."""

from __future__ import annotations

import pandas as pd

from nbrec.constants import DEFAULT_K, ITEM_COL
from nbrec.data.features import feature_columns, one_hot
from nbrec.evaluation.metrics import (
    accuracy,
    catalog_coverage,
    intra_list_diversity,
    novelty,
    personalisation,
)


def evaluate(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    train: pd.DataFrame,
    k: int = DEFAULT_K,
    items: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Accuracy at k over ``test`` users, plus coverage (of the training catalogue), novelty,
    intra-list diversity (over the item table's categorical features, when given) and
    personalisation."""
    result = accuracy(recs, test, k)
    result["coverage"] = catalog_coverage(recs, train[ITEM_COL].nunique())
    result["novelty"] = novelty(recs, train)
    if items is not None:
        columns = feature_columns(items, ITEM_COL)
        features, _ = one_hot(items, columns)
        result["diversity"] = intra_list_diversity(
            recs, features, pd.Index(items[ITEM_COL].astype(str))
        )
    result["personalisation"] = personalisation(recs)
    return result
