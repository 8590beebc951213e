"""The leaderboard: every model on one split, the same metrics, the protocol beside them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from tqdm.auto import tqdm

import nbrec
from nbrec.constants import DEFAULT_K, DEFAULT_SEED, USER_COL
from nbrec.data.schema import Dataset, deduplicate
from nbrec.data.splits import Split, split
from nbrec.evaluation.evaluate import evaluate
from nbrec.evaluation.tuning import fit_and_score, tune
from nbrec.models import expand, make_model

PRIMARY_METRIC = "ndcg"


@dataclass
class Leaderboard:
    """Rows (one per model, best test NDCG first) and the protocol that produced them."""

    table: pd.DataFrame
    protocol: dict
    models: dict = field(default_factory=dict)  # name -> fitted model (not serialised)

    @property
    def champion(self) -> str:
        """The model with the best *validation* metric: the test split does not choose."""
        column = f"validation_{PRIMARY_METRIC}@{self.protocol['k']}"
        return str(self.table.sort_values(column, ascending=False, kind="stable")["model"].iloc[0])

    def records(self) -> list[dict]:
        return json.loads(self.table.to_json(orient="records"))

    def to_json(self) -> str:
        return json.dumps(self.records(), indent=2)


def prepare_split(
    dataset: Dataset, method: str = "stratified", seed: int = DEFAULT_SEED, **split_args
) -> Split:
    """Deduplicate (one row per user-item) and split per the accuracy protocol."""
    return split(deduplicate(dataset.interactions), method, seed=seed, **split_args)


def run_leaderboard(
    dataset: Dataset,
    models: str | list[str] = "random,popularity",
    method: str = "stratified",
    k: int = DEFAULT_K,
    seed: int = DEFAULT_SEED,
    tune_models: bool = True,
    max_trials: int = 12,
    data_split: Split | None = None,
    progress: bool = True,
) -> Leaderboard:
    """Tune each model on validation, fit on train, score the test split once."""
    names = expand(models)
    data_split = data_split or prepare_split(dataset, method, seed)
    items, users = dataset.items, dataset.users
    test_users = data_split.test[USER_COL].unique()
    tuning = data_split.tuning()
    target = f"{PRIMARY_METRIC}@{k}"
    rows, fitted = [], {}
    for name in tqdm(names, desc="leaderboard", disable=not progress):
        params, trials = {}, pd.DataFrame()
        if tune_models:
            params, trials = tune(name, data_split, k, PRIMARY_METRIC, max_trials, items, users)
        # Validation figure of the chosen configuration (fit on sub_train): used to pick the
        # champion. Tuning measured it already (best trial first); without trials, measure it.
        val_metric = float(
            trials[target].iloc[0]
            if len(trials)
            else fit_and_score(name, params, tuning, k, PRIMARY_METRIC, items, users)
        )
        model = make_model(name, **params).fit(data_split.train, items, users)
        start = time.perf_counter()
        recs = model.recommend(test_users, k)
        score_seconds = time.perf_counter() - start
        metrics = evaluate(recs, data_split.test, data_split.train, k, items)
        rows.append(
            {
                "model": name,
                **metrics,
                f"validation_{target}": val_metric,
                "fit_seconds": model.fit_seconds_,
                "score_seconds": score_seconds,
                "params": json.dumps(params),
            }
        )
        fitted[name] = model
    table = pd.DataFrame(rows).sort_values(target, ascending=False, kind="stable")
    protocol = {
        "dataset": dataset.name,
        "dataset_hash": dataset.content_hash(),
        **data_split.protocol,
        "k": k,
        "train_interactions": len(data_split.train),
        "test_interactions": len(data_split.test),
        "test_users": len(test_users),
        "nbrec_version": nbrec.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return Leaderboard(table.reset_index(drop=True), protocol, fitted)
