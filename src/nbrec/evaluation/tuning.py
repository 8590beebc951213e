"""Hyperparameter search on the validation split only (the test split is never touched).

Optuna (Akiba et al. 2019) with its TPE sampler over a model's ``search_space`` (lists are
categorical, ``FloatRange``/``IntRange`` intervals), the model's defaults tried first, a
median pruner that stops a trial whose running validation metric (validation users are
scored in ``CHUNKS`` parts) trails the median of earlier trials, and a time budget per model.
A model whose class has ``tuning_session(interactions, items=, users=)`` (EASE: every l2 from
one eigendecomposition) is fitted through it, so a trial costs a rescale, not a fit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import optuna
import pandas as pd

from nbrec.constants import DEFAULT_K, DEFAULT_SEED, USER_COL
from nbrec.data.splits import Split
from nbrec.evaluation.holdout import HeldOut
from nbrec.evaluation.metrics import accuracy
from nbrec.models import make_model
from nbrec.models.registry import get_model_class
from nbrec.models.space import FloatRange, IntRange

CHUNKS = 4  # validation users are scored in this many parts; a trial can be pruned after each
Progress = Callable[[str], None]


def distributions(space: dict) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions for a model's ``search_space``."""
    out = {}
    for name, dim in space.items():
        if isinstance(dim, FloatRange):
            out[name] = optuna.distributions.FloatDistribution(dim.low, dim.high, log=dim.log)
        elif isinstance(dim, IntRange):
            out[name] = optuna.distributions.IntDistribution(dim.low, dim.high, log=dim.log)
        else:
            out[name] = optuna.distributions.CategoricalDistribution(list(dim))
    return out


def suggest(trial: optuna.Trial, name: str, dist) -> object:
    if isinstance(dist, optuna.distributions.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)


def defaults_in(model_name: str, space: dict) -> dict | None:
    """The model's default hyperparameters, if every one lies in the search space."""
    params = make_model(model_name).get_params()
    point = {name: params[name] for name in space if name in params}
    if len(point) != len(space):
        return None
    for name, value in point.items():
        dim = space[name]
        if isinstance(dim, FloatRange | IntRange):
            if not dim.low <= value <= dim.high:
                return None
        elif value not in list(dim):
            return None
    return point


class _Session:
    """Default tuning session: each trial is a fresh fit on the tuning training frame."""

    def __init__(self, model_name, interactions, items=None, users=None):
        self.model_name, self.interactions = model_name, interactions
        self.items, self.users = items, users

    def model(self, **params):
        model = make_model(self.model_name, **params)
        return model.fit(self.interactions, self.items, self.users)


def session_for(model_name: str, interactions, items=None, users=None):
    cls = get_model_class(model_name)
    if hasattr(cls, "tuning_session"):
        return cls.tuning_session(interactions, items=items, users=users)
    return _Session(model_name, interactions, items, users)


def chunked_score(
    model, validation: pd.DataFrame | HeldOut, k: int, metric: str, report=None
) -> float:
    """Mean ``metric@k`` over validation users, scored in ``CHUNKS`` parts; ``report(step,
    running mean)`` after each part may raise ``optuna.TrialPruned``. Pass a ``HeldOut``
    (prepared once) when scoring many models on the same frame."""
    if not isinstance(validation, HeldOut):
        validation = HeldOut(validation, CHUNKS)
    return validation.score(model, k, metric, report)


def tune(
    model_name: str,
    split: Split,
    k: int = DEFAULT_K,
    metric: str = "ndcg",
    max_trials: int = 12,
    items: pd.DataFrame | None = None,
    users: pd.DataFrame | None = None,
    progress: bool | Progress = False,
    time_budget: float | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[dict, pd.DataFrame]:
    """Fit candidates on ``split.sub_train``, score them on ``split.validation``; best first.

    Stops after ``max_trials`` trials or once ``time_budget`` seconds have passed (a trial
    under way finishes). ``progress``: True prints a line per trial to stderr, a callable
    receives those lines. Returns (best params, one row per trial: params, the validation
    metric, ``state`` complete|pruned, ``seconds``; complete trials first, best first).
    """
    space = get_model_class(model_name).search_space
    dists = distributions(space)
    if not dists:
        return {}, pd.DataFrame()
    say = printer(progress)
    tuning = split.tuning()
    target = f"{metric}@{k}"
    session = session_for(model_name, tuning.train, items, users)
    held_out = HeldOut(tuning.test, CHUNKS)  # prepared once for every trial
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(3, max_trials // 3)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    start_point = defaults_in(model_name, space)
    if start_point is not None:
        study.enqueue_trial(start_point)

    def objective(trial: optuna.Trial) -> float:
        params = {name: suggest(trial, name, dist) for name, dist in dists.items()}
        model = session.model(**params)

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return chunked_score(model, held_out, k, metric, report)

    def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if say is None:
            return
        value = _value(trial)
        done = [t.value for t in study.trials if t.value is not None]
        best = max(done) if done else value
        state = "" if trial.state == optuna.trial.TrialState.COMPLETE else " (pruned)"
        say(
            f"tune {model_name} trial {trial.number + 1}/{max_trials}: {_fmt(trial.params)} -> "
            f"{target} {value:.4f}{state}, best {best:.4f} "
            f"[{trial.duration.total_seconds():.1f} s]"
        )

    start = time.perf_counter()
    # The first trial (the defaults) always runs, however small the budget left.
    study.optimize(objective, n_trials=1, callbacks=[log_trial])
    left = None if time_budget is None else time_budget - (time.perf_counter() - start)
    if max_trials > 1 and (left is None or left > 0):
        study.optimize(objective, n_trials=max_trials - 1, timeout=left, callbacks=[log_trial])
    return _results(study, dists, target)


def _results(study: optuna.Study, dists: dict, target: str) -> tuple[dict, pd.DataFrame]:
    rows = []
    for t in study.trials:
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        value = _value(t)
        rows.append({**t.params, target: value, "state": t.state.name.lower(),
                     "seconds": t.duration.total_seconds() if t.duration else None})  # fmt: skip
    trials = pd.DataFrame(rows)
    trials["_complete"] = trials["state"] == "complete"
    trials = trials.sort_values(["_complete", target], ascending=False, kind="stable")
    trials = trials.drop(columns="_complete").reset_index(drop=True)
    # The best trial's own dict, so parameter types survive (a frame row would make ints floats).
    best = dict(study.best_trial.params)
    return best, trials


def _value(trial: optuna.trial.FrozenTrial) -> float:
    """A trial's metric; for a pruned one, its last running value (over part of the users)."""
    if trial.value is not None:
        return trial.value
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else float("nan")


def printer(progress: bool | Progress) -> Progress | None:
    if callable(progress):
        return progress
    if progress:
        return lambda line: print(line, file=sys.stderr, flush=True)
    return None


def _fmt(params: dict) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


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
