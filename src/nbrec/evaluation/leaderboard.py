"""The leaderboard: every model on one split, the same metrics, the protocol beside them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

import nbrec
from nbrec.constants import DEFAULT_K, DEFAULT_SEED, USER_COL
from nbrec.data.schema import Dataset, deduplicate
from nbrec.data.splits import Split, split
from nbrec.evaluation.evaluate import evaluate
from nbrec.evaluation.tuning import Progress, fit_and_score, printer, tune
from nbrec.models import expand, make_model
from nbrec.models.cost import fit_seconds
from nbrec.models.memory import DataShape, MemoryBudget, fit_bytes, gib
from nbrec.models.registry import get_model_class

PRIMARY_METRIC = "ndcg"
# The CLI's default for --time-budget (seconds): with the fits after tuning the whole run
# stays within about five minutes on a 2-core machine.
DEFAULT_TIME_BUDGET = 200.0
NEGLIGIBLE_SECONDS = 1.0  # estimated fits below this never cause a skip, nor a reordering
# The blend's linear member: whichever of these scored best on validation in the run
LINEAR_AUTOENCODERS = ("ease", "edlae", "time_ease")


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
    progress: bool | Progress = True,
    time_budget: float | None = None,
) -> Leaderboard:
    """Tune each model on validation, fit on train, score the test split once.

    ``time_budget`` (seconds) bounds the tuning of all models together: each model gets an
    equal share of what is left when its turn comes. A model whose estimated fits (one
    tuning trial and the final fit, ``nbrec.models.cost``) exceed its share, or whose fit
    would not fit in the memory left (``nbrec.models.memory``), is skipped: the reason is
    printed and recorded in ``protocol["skipped"]``. Dear models run last, so they get what
    the cheap ones left; the blend, last, is skipped when its members' measured fits exceed
    what is left (it fits them once more to learn its weights; its final fit reuses them).
    ``progress``: True prints a line per model and per trial to stderr, a callable receives
    the lines, False is silent. A blend runs after the other models and
    receives its members' tuned hyperparameters; its linear member is the best linear
    autoencoder of the run by validation (``blend_members``).
    """
    data_split = data_split or prepare_split(dataset, method, seed)
    shapes = (DataShape.of(data_split.tuning().train), DataShape.of(data_split.train))
    cost = {name: estimate(name, *shapes) for name in expand(models)}
    # stable: models with a dear estimated fit after the others (they get what those left
    # of the budget), dearest last; the blend after everything (it needs its members' params)
    names = sorted(
        cost, key=lambda n: (n == "blend", cost[n] if cost[n] >= NEGLIGIBLE_SECONDS else 0.0)
    )
    items, users = dataset.items, dataset.users
    test_users = data_split.test[USER_COL].unique()
    tuning = data_split.tuning()
    target = f"{PRIMARY_METRIC}@{k}"
    say = printer(progress)
    started = time.perf_counter()
    rows, fitted, chosen, skipped = [], {}, {}, {}
    for position, name in enumerate(names):
        model_start = time.perf_counter()
        left = None if time_budget is None else time_budget - (model_start - started)
        seconds = blend_seconds(rows, target) if name == "blend" else cost[name]
        reason = skip_reason(name, seconds, shapes[1], left, len(names) - position)
        if reason:
            skipped[name] = reason
            if say:
                say(f"leaderboard {position + 1}/{len(names)}: {name} skipped: {reason}")
            continue
        if say:
            say(f"leaderboard {position + 1}/{len(names)}: {name}")
        params, trials = {}, pd.DataFrame()
        if name == "blend":  # its weights are hyperparameters: learned on the validation split
            blend = make_model("blend", members=blend_members(rows, target))
            members = {m: chosen[m] for m in blend.member_names() if chosen.get(m)}
            blend.member_params = members
            weights, blend_val = blend.weights_on(tuning.train, tuning.test, items, users)
            params = {"members": blend.members, "member_params": members, "weights": weights}
            trials = pd.DataFrame([{**weights, target: blend_val, "state": "complete"}])
            if say:
                say(f"blend weights on validation: {weights} -> {target} {blend_val:.4f}")
        elif tune_models:
            budget = None
            if time_budget is not None:
                left = time_budget - (time.perf_counter() - started)
                budget = max(left, 0.0) / (len(names) - position)
            params, trials = tune(name, data_split, k, PRIMARY_METRIC, max_trials, items, users,
                                  progress=say or False, time_budget=budget, seed=seed)  # fmt: skip
        chosen[name] = params
        # Validation figure of the chosen configuration (fit on sub_train): used to pick the
        # champion. Tuning measured it already (best complete trial first); else measure it.
        val_metric = float(
            trials[target].iloc[0]
            if len(trials)
            else fit_and_score(name, params, tuning, k, PRIMARY_METRIC, items, users)
        )
        tuning_seconds = time.perf_counter() - model_start  # trials + the validation figure
        model = make_model(name, **params)
        if name == "blend":  # its members, fitted on train above, are not fitted again
            model.fit(data_split.train, items, users, fitted=fitted)
        else:
            model.fit(data_split.train, items, users)
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
                "tuning_seconds": tuning_seconds,
                "trials": len(trials),
                "score_seconds": score_seconds,
                "params": json.dumps(params),
            }
        )
        fitted[name] = model
        if say:
            say(
                f"leaderboard {position + 1}/{len(names)}: {name} validation {target} "
                f"{val_metric:.4f}, test {metrics[target]:.4f}, fit {model.fit_seconds_:.1f} s, "
                f"tuning {tuning_seconds:.1f} s"
            )
    if not rows:
        raise ValueError(f"every model was skipped: {json.dumps(skipped)}")
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
        "time_budget": time_budget,
        "skipped": skipped,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return Leaderboard(table.reset_index(drop=True), protocol, fitted)


def estimate(name: str, tuning: DataShape, train: DataShape) -> float:
    """Estimated seconds of ``name``'s first tuning trial plus its final fit (0 if unknown)."""
    cls = get_model_class(name)
    one, final = fit_seconds(cls, tuning), fit_seconds(cls, train)
    return 0.0 if one is None or final is None else one + final


def blend_members(rows: list[dict], target: str) -> str:
    """The blend's default members, EASE's place taken by the linear autoencoder (``ease``,
    ``edlae``, ``time_ease``) with the best validation figure among those run so far."""
    names = make_model("blend").member_names()
    ran = [row for row in rows if row["model"] in LINEAR_AUTOENCODERS]
    if "ease" in names and ran:
        best = max(ran, key=lambda row: row[f"validation_{target}"])["model"]
        names = [best if name == "ease" else name for name in names]
    return ",".join(names)


def blend_seconds(rows: list[dict], target: str) -> float:
    """The blend fits each member once more (on the sub-training split, to learn its weights;
    its final fit reuses the members fitted in this run): its cost predicted from those
    members' final fits measured in this run (0 if one is missing)."""
    measured = {row["model"]: row["fit_seconds"] for row in rows}
    members = blend_members(rows, target).split(",")
    if not all(measured.get(m) is not None for m in members):
        return 0.0
    return sum(measured[m] for m in members)


def skip_reason(
    name: str, seconds: float, train: DataShape, left: float | None, models_left: int
) -> str | None:
    """Why ``name`` cannot run within the budget left, or None if it can."""
    need, memory = fit_bytes(get_model_class(name), train), MemoryBudget()
    if not memory.fits(need):
        return f"its fit needs about {gib(need)}, more than the memory left ({memory.describe()})"
    if left is None or seconds <= 0:
        return None
    share = max(left, 0.0) / models_left
    if seconds > max(share, NEGLIGIBLE_SECONDS):
        what = (
            "each member fitted once more" if name == "blend" else "a tuning trial, the final fit"
        )
        return (
            f"its cost ({what}) is estimated at {seconds:.0f} s on "
            f"{train.n_items:,} items and {train.n_users:,} users, more than its share of the "
            f"time budget ({share:.0f} s of {max(left, 0.0):.0f} s left for {models_left} "
            "models); raise --time-budget to include it"
        )
    return None
