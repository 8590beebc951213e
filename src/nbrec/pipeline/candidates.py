"""Choosing and fitting the candidate model, and scoring rivals on the same validation split.

The pipeline holds out ``DEFAULT_VALIDATION_RATIO`` of each user's interactions (stratified,
seeded); the candidate, popularity and the live model's recipe are fitted on the rest and
compared on the held-out part. The published model is then refitted on all interactions.

At scale the choice is made on a seeded sample of at most ``selection_users`` users (all of
their interactions); only the champion is fitted on every user. Every fit is checked against
the run's ``MemoryBudget`` first: a candidate whose estimate exceeds what is left is skipped
with the figures (``Candidate.skipped``), candidates are fitted one at a time and dropped
before the next, and a champion that cannot be fitted on all the data gives way to the next
best that can, or the run stops with ``MemoryBudgetError``, never an OOM kill.
"""

from __future__ import annotations

import gc
import inspect
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, DEFAULT_VALIDATION_RATIO, USER_COL
from nbrec.data.schema import Dataset, deduplicate
from nbrec.data.splits import Split, split
from nbrec.errors import BadValueError
from nbrec.evaluation.metrics import accuracy
from nbrec.evaluation.tuning import tune
from nbrec.models import Recommender, available, expand, get_model_class, make_model
from nbrec.models.cost import fit_seconds
from nbrec.models.memory import DataShape, MemoryBudget, MemoryBudgetError, fit_bytes, gib

log = logging.getLogger(__name__)

METRIC = "ndcg"
# Not candidates for "auto": random is a floor, not a contender; the bandits learn online and,
# not personalised, sit near popularity offline, while each costs a simulated learning run and
# a per-user policy draw to score (a third of "auto"'s time at 10k users). Name them to try them.
NOT_CANDIDATES = {"random", "epsilon_greedy", "ucb1", "thompson"}
# Order of trial under "auto": cheap kinds first, so a selection time budget drops the costly.
# time_ease (one dense inverse, estimated from the shape and skipped when too slow) comes
# before lightfm and the blend: on mid-size catalogues it is the best single model, and the
# blend, whose cost is predicted from its members' fits, is tried last.
CHEAP_FIRST = {name: i for i, name in enumerate(
    ["popularity", "recency", "als", "item_knn", "rp3beta", "ease", "edlae", "time_ease",
     "lightfm", "blend"])}  # fmt: skip
TUNING_TRIALS = 12  # trials per model with --tune (a model's estimate counts this many fits)


@dataclass
class Candidate:
    """The chosen model recipe and the validation metric of every recipe tried."""

    model: str
    params: dict
    score: float
    tried: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was not tried
    recipes: dict[str, dict] = field(default_factory=dict)  # name -> params, for runners-up
    fit_seconds: dict[str, float] = field(default_factory=dict)  # on the selection data
    selection_nnz: int = 0  # interactions the candidates were fitted on


def selection_sample(dataset: Dataset, max_users: int | None, seed: int = DEFAULT_SEED) -> Dataset:
    """``dataset`` restricted to a seeded sample of ``max_users`` users (all their rows);
    the dataset itself when it has no more users than that (or ``max_users`` is falsy)."""
    users = dataset.interactions[USER_COL].unique()
    if not max_users or len(users) <= max_users:
        return dataset
    keep = np.random.default_rng(seed).choice(users, max_users, replace=False)
    rows = dataset.interactions[dataset.interactions[USER_COL].isin(keep)]
    log.info(f"choosing the model on {max_users:,} of {len(users):,} users ({len(rows):,} rows)")
    return Dataset(dataset.name, rows.reset_index(drop=True), dataset.items, dataset.users,
                   meta={**dataset.meta, "sample_users": max_users})  # fmt: skip


def validation_split(dataset: Dataset, seed: int = DEFAULT_SEED) -> Split:
    """Deduplicated interactions split per user into fit and validation parts."""
    return split(deduplicate(dataset.interactions), "stratified", test_ratio=DEFAULT_VALIDATION_RATIO,
                 validation=False, seed=seed)  # fmt: skip


def candidate_names(model: str) -> list[str]:
    """``"auto"`` -> every registered model but ``NOT_CANDIDATES``; otherwise ``expand``."""
    if model == "auto":
        return [name for name in available() if name not in NOT_CANDIDATES]
    return expand(model)


def validation_score(
    name: str, params: dict, data_split: Split, dataset: Dataset, k: int = DEFAULT_K
) -> float:
    """NDCG@k on the validation part of a recipe fitted on the fit part."""
    return _fit_and_score(name, params, data_split, dataset, k)[0]


def _fit_and_score(name, params, data_split, dataset, k) -> tuple[float, float]:
    """(validation NDCG@k, fit seconds); the model is dropped before returning."""
    start = time.perf_counter()
    model = make_model(name, **params).fit(data_split.train, dataset.items, dataset.users)
    seconds = time.perf_counter() - start
    recs = model.recommend(data_split.test[USER_COL].unique(), k)
    del model  # candidates are never held in memory together
    gc.collect()
    return float(accuracy(recs, data_split.test, k)[f"{METRIC}@{k}"]), seconds


def too_large(name: str, params: dict, shape: DataShape, budget: MemoryBudget) -> str | None:
    """Why ``name`` cannot be fitted on data of ``shape`` within ``budget`` (None if it can)."""
    need, left = fit_bytes(get_model_class(name), shape, params), budget.left()
    if need <= left:
        return None
    return (f"needs about {gib(need)} to fit {shape.n_users:,} users x {shape.n_items:,} items "
            f"({shape.nnz:,} interactions) but {gib(left)} is left ({budget.describe()})")  # fmt: skip


def estimated_seconds(
    name: str, params: dict, shape: DataShape, measured: dict[str, float] | None = None
) -> float | None:
    """Seconds one fit of ``name`` on data of ``shape`` is estimated to take, from the shape
    alone (``nbrec.models.cost``: the same on any machine); None when the model has no
    estimate. A blend fits each member twice (weights on a split of its data, then all of
    it): twice its members' fits, each one's ``measured`` seconds when it was fitted already,
    else its estimate (members with neither count nothing: a lower bound)."""
    cls = get_model_class(name)
    if not hasattr(cls, "member_names"):
        return fit_seconds(cls, shape, params)
    blend, measured = cls(**params), measured or {}
    member_params = blend.member_params or {}
    parts = [measured[m] if m in measured else fit_seconds(get_model_class(m), shape,
             member_params.get(m)) for m in blend.member_names()]  # fmt: skip
    known = [p for p in parts if p is not None]
    return 2 * sum(known) if known else None


def too_slow(
    name: str, params: dict, shape: DataShape, measured: dict[str, float], left: float,
    budget: float, trials: int = 1,
) -> str | None:  # fmt: skip
    """Why ``name``'s estimated fit (times ``trials`` when tuning) does not fit in the
    ``left`` seconds of the selection ``budget`` (None if it does, or has no estimate)."""
    one = estimated_seconds(name, params, shape, measured)
    if one is None or one * trials <= left:
        return None
    what = "its members' fits, twice" if name == "blend" else "one fit"
    times = f" x {trials} tuning trials" if trials > 1 else ""
    return (f"estimated at {one:.0f} s ({what}){times} on {shape.n_users:,} users x "
            f"{shape.n_items:,} items, more than the {max(left, 0):.0f} s left of the selection "
            f"budget (NBREC_SELECTION_MINUTES={budget / 60:g}); raise it to include {name}")  # fmt: skip


def choose_candidate(
    model: str, data_split: Split, dataset: Dataset, k: int = DEFAULT_K, tune_params: bool = False,
    params: dict | None = None, budget: MemoryBudget | None = None, progress: bool = False,
    time_budget_s: float | None = None,
) -> Candidate:  # fmt: skip
    """Score each recipe on validation (optionally tuning it first) and keep the best.

    Recipes are fitted one at a time, cheapest kinds first (``CHEAP_FIRST``). Before a fit,
    a recipe is skipped with the reason when its estimated fit time (``estimated_seconds``,
    from the data's shape; ``TUNING_TRIALS`` fits when tuning) exceeds what is left of
    ``time_budget_s``, or its memory estimate what is left of ``budget``; once
    ``time_budget_s`` is spent, the rest are skipped. The first recipe tried is never
    skipped for time (a model named alone is always tried)."""
    budget = budget or MemoryBudget()
    tried, recipes, skipped, seconds = {}, {}, {}, {}
    shape = DataShape.of(data_split.train)
    names = sorted(candidate_names(model), key=lambda n: CHEAP_FIRST.get(n, len(CHEAP_FIRST)))
    start = time.perf_counter()
    bar = tqdm(names, desc="choose model", disable=not progress)
    for name in bar:
        bar.set_postfix(model=name)
        chosen = dict(params or {})
        spent = time.perf_counter() - start
        if time_budget_s is not None and spent > time_budget_s and tried:
            skipped[name] = f"selection time budget spent ({spent:.0f} s of {time_budget_s:.0f} s)"
            continue
        reason = None
        if time_budget_s is not None and tried:  # a model named alone is always tried
            tuning = tune_params and not chosen and bool(get_model_class(name).search_space)
            reason = too_slow(name, chosen, shape, seconds, time_budget_s - spent, time_budget_s,
                              TUNING_TRIALS if tuning else 1)  # fmt: skip
        reason = reason or too_large(name, chosen, shape, budget)
        if reason:
            skipped[name] = reason
            log.info(f"{name} skipped: {reason}")
            continue
        if tune_params and not chosen:
            # tune() fits on sub_train / scores on validation; give it our split in that shape.
            nested = Split(data_split.train, data_split.test, data_split.train, data_split.test)
            left = None if time_budget_s is None else time_budget_s - spent
            chosen, _ = tune(name, nested, k, METRIC, TUNING_TRIALS, dataset.items, dataset.users,
                             time_budget=left)  # fmt: skip
        recipes[name] = chosen
        tried[name], seconds[name] = _fit_and_score(name, chosen, data_split, dataset, k)
    if not tried:
        raise (MemoryBudgetError if skipped else BadValueError)(
            f"no candidate models for --model {model!r} could be tried; available: "
            f"{available()}; skipped: {skipped}"
        )
    best = max(tried, key=tried.get)
    return Candidate(best, recipes[best], tried[best], tried, skipped, recipes, seconds, shape.nnz)


def own_time_bound(name: str, params: dict) -> float | None:
    """The most a model with its own time budget (``max_fit_seconds``: ALS stops after the
    iteration under way once it is spent) takes to fit: twice the budget, the worst case of
    an iteration that started just before it ran out. None for models without one."""
    budget = getattr(get_model_class(name)(**params), "max_fit_seconds", None)
    return 2.0 * float(budget) if budget else None


def final_too_slow(
    name: str, params: dict, candidate: Candidate, shape: DataShape, fit_budget_s: float
) -> str | None:
    """Why ``name``'s fit on all the data (``shape``) would exceed ``fit_budget_s``: the larger
    of its fit on the selection data scaled linearly by the interactions (at most twice a
    model's own time budget) and its estimate from the shape (``estimated_seconds``: EASE's
    cost grows with users squared, not linearly). None if it fits or nothing is known."""
    measured, scaled = candidate.fit_seconds.get(name), None
    scale = shape.nnz / max(candidate.selection_nnz, 1)
    if measured:
        scaled = measured * scale
        bound = own_time_bound(name, params)
        if bound is not None and scaled > bound:
            log.info(f"{name}: fit bounded by its own time budget, {bound:.0f} s at most")
            scaled = bound
    estimated = estimated_seconds(name, params, shape)
    if estimated is not None and estimated > fit_budget_s and estimated >= (scaled or 0):
        return (f"its fit on all the data is estimated at {estimated:.0f} s from the data's "
                f"shape ({shape.n_users:,} users x {shape.n_items:,} items), over the "
                f"{fit_budget_s:.0f} s budget (NBREC_FINAL_FIT_MINUTES)")  # fmt: skip
    if scaled is not None and scaled > fit_budget_s:
        return (f"its fit would take about {scaled:.0f} s on all the data ({measured:.1f} s on "
                f"{candidate.selection_nnz:,} interactions, x{scale:.1f}), over the "
                f"{fit_budget_s:.0f} s budget")  # fmt: skip
    return None


def settle_final(
    candidate: Candidate, dataset: Dataset, budget: MemoryBudget | None = None,
    fit_budget_s: float | None = None,
) -> Candidate:  # fmt: skip
    """The candidate to fit on all the data: the champion if it fits the memory budget there
    (and, given ``fit_budget_s``, its predicted fit time there stays within it:
    ``final_too_slow``), else the next best recipe that does (``skipped`` says why the others
    were passed over). ``MemoryBudgetError`` when none fits."""
    budget = budget or MemoryBudget()
    shape = DataShape.of(dataset.interactions)
    reasons = {}
    for name in sorted(candidate.tried, key=candidate.tried.get, reverse=True):
        params = candidate.recipes.get(name, candidate.params if name == candidate.model else {})
        reason = too_large(name, params, shape, budget)
        if reason is None and fit_budget_s:
            reason = final_too_slow(name, params, candidate, shape, fit_budget_s)
        if reason is None:
            skipped = {**candidate.skipped, **{n: f"final fit: {r}" for n, r in reasons.items()}}
            return Candidate(name, params, candidate.tried[name], candidate.tried, skipped,
                             candidate.recipes, candidate.fit_seconds, candidate.selection_nnz)  # fmt: skip
        reasons[name] = reason
        log.info(f"{name} cannot be fitted on all the data: {reason}")
    raise MemoryBudgetError(
        "no candidate can be fitted on all the data within the memory and time budgets: "
        + "; ".join(f"{n}: {r}" for n, r in reasons.items())
        + ". Free memory, raise NBREC_MEMORY_BUDGET_GB, or choose a lighter model (--model als)."
    )


def fit_final(
    candidate: Candidate, dataset: Dataset, budget: MemoryBudget | None = None
) -> Recommender:
    """The recipe refitted on every (deduplicated) interaction: the model that gets published.
    Checked against the memory budget first (``MemoryBudgetError`` with the figures)."""
    data = deduplicate(dataset.interactions)
    reason = too_large(
        candidate.model, candidate.params, DataShape.of(data), budget or MemoryBudget()
    )
    if reason:
        raise MemoryBudgetError(f"{candidate.model} on all the data {reason}")
    params = dict(candidate.params)
    if "progress" in inspect.signature(get_model_class(candidate.model)).parameters:
        params.setdefault("progress", True)  # ALS, LightFM: a bar per iteration on stderr
    return make_model(candidate.model, **params).fit(data, dataset.items, dataset.users)
