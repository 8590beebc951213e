"""Training flow: snapshot -> validate -> notebooks -> gate -> register -> publish -> go live.

Thin on purpose: every task is one call into ``nbrec`` (``nbrec.pipeline``, ``nbrec.validation``,
``nbrec.pipeline.model_store``). Run it with ``nbrec train`` or ``python flows/training.py``.
A run ends "completed" (a new version is live), "rejected" (the gate said no; production is
unchanged) or "failed" (e.g. validation: the error names the expectations and the report).
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from nbrec.constants import DEFAULT_K, TOP_N, USER_COL
from nbrec.models.memory import MemoryBudget
from nbrec.pipeline import (
    candidates,
    gate,
    lifecycle,
    model_store,
    notebook_runs,
    scoring,
    snapshot,
    status,
    versions,
)
from nbrec.settings import get_settings
from nbrec.store import StoreError, open_store
from nbrec.validation import (
    ValidationFailed,
    interactions_frame,
    interactions_parameters,
    recommendation_frame,
    recommendation_parameters,
    validate,
)

TRANSIENT = (OSError, TimeoutError, ConnectionError, StoreError)
# Big frames and models move between tasks: no input hashing, no result persistence.
STEP = {"cache_policy": NO_CACHE, "persist_result": False}


def transient(task, task_run, state) -> bool:
    """Retry only what may succeed next time (I/O, store), never bad data or a bug."""
    try:
        state.result()
    except TRANSIENT:
        return True
    except Exception:
        return False
    return False


RETRY = {"retries": 3, "retry_delay_seconds": exponential_backoff(backoff_factor=2),
         "retry_condition_fn": transient}  # fmt: skip


@task(**STEP, **RETRY)
def take_snapshot(dataset: str, events=None) -> snapshot.DataSnapshot:
    return snapshot.take_snapshot(dataset, events=events)


@task(**STEP, **RETRY)
def read_events(window: str, weights: str, half_life_days: float):
    """The warehouse's events inside ``window`` as weighted interactions (nbrec.events)."""
    from nbrec.events.training import event_interactions

    return event_interactions(window=window, weights=weights, half_life_days=half_life_days or None)


@task(**STEP)
def validate_inputs(snap: snapshot.DataSnapshot, run_name: str) -> dict:
    """Every table of the snapshot against its suite; any failure stops the run."""
    found = {"interactions": validate(interactions_frame(snap.interactions), "interactions",
                                      interactions_parameters(), run_name)}  # fmt: skip
    for table in ("items", "users"):
        if table in snap.tables:
            found[table] = validate(snap.tables[table], table, run_name=run_name)
    status.record_validation({name: report.status() for name, report in found.items()})
    for report in found.values():
        if not report.success:
            raise ValidationFailed(report)
    return {name: str(report.report_path) for name, report in found.items()}


@task(**STEP)
def run_notebooks(
    names: list[str], snap: snapshot.DataSnapshot, run_name: str, params_hash: str
) -> dict:
    return notebook_runs.run_notebooks(
        names, str(snap.path), notebook_runs.run_dir(run_name, params_hash)
    )


@task(**STEP)
def choose(dataset, model: str, k: int, tune: bool) -> tuple:
    """The candidate recipe and the validation metric of popularity and of the live recipe."""
    settings = get_settings()
    budget = MemoryBudget.from_gb(settings.memory_budget_gb)
    sample = candidates.selection_sample(dataset, settings.selection_users)
    data_split = candidates.validation_split(sample)
    minutes = settings.selection_minutes
    chosen = candidates.choose_candidate(model, data_split, sample, k, tune, budget=budget,
                                         progress=True, time_budget_s=minutes and minutes * 60)  # fmt: skip
    for name, reason in chosen.skipped.items():
        get_run_logger().warning(f"{name} skipped: {reason}")
    # The champion must also fit on all the data; else the next best that does.
    fit_minutes = settings.final_fit_minutes
    chosen = candidates.settle_final(chosen, dataset, budget, fit_minutes and fit_minutes * 60)
    popularity = chosen.tried.get("popularity")
    if popularity is None:
        popularity = candidates.validation_score("popularity", {}, data_split, sample, k)
    live, live_version = None, lifecycle.live_version()
    if live_version is not None:
        try:
            entry = model_store.get_model_version(live_version)
        except KeyError:
            get_run_logger().warning(
                f"live version {live_version} is not in the model store: no live comparison"
            )
        else:
            recipe = (entry.model, entry.metadata.get("params", {}))
            live = (chosen.score if recipe == (chosen.model, chosen.params)
                    else candidates.validation_score(*recipe, data_split, sample, k))  # fmt: skip
    return chosen, popularity, live, live_version


@task(**STEP)
def fit_final(chosen: candidates.Candidate, dataset):
    budget = MemoryBudget.from_gb(get_settings().memory_budget_gb)
    return candidates.fit_final(chosen, dataset, budget)


@task(**STEP)
def score_shard(model, user_ids, k: int):
    return scoring.score_shard(model, user_ids, k)


@task(**STEP)
def validate_recommendations(recs, model, dataset, k: int, run_name: str, suite_label: str) -> str:
    frame = recommendation_frame(recs, model.item_ids_, candidates.seen_pairs(dataset), k)
    report = validate(frame, "recommendations", recommendation_parameters(len(model.user_ids_), len(model.item_ids_), k),
                      f"{run_name}-{suite_label}")  # fmt: skip
    status.record_validation({f"recommendations_{suite_label}": report.status()})
    if not report.success:
        raise ValidationFailed(report)
    return str(report.report_path)


@task(**STEP)
def save_model(model, version: str, metadata: dict) -> bool:
    return model_store.save_model(model, version, metadata)[1]


@task(**STEP, **RETRY)
def publish(model, version: str, dataset, top_n: int) -> bool:
    return lifecycle.publish_version(model, version, open_store(), dataset.items, top_n)


@task(**STEP, **RETRY)
def read_published(version: str, user_ids, k: int):
    return lifecycle.published_recs(open_store(), version, user_ids, k)


@task(**STEP, **RETRY)
def go_live(version: str) -> None:
    open_store().set_live(version)


# The task runner NBREC_TASK_RUNNER names, read when this file is loaded: direct runs,
# `nbrec train`, flows/serve.py's schedules and work-pool deployments (prefect.yaml) alike.
@flow(name="nbrec-training", task_runner=scoring.make_task_runner(get_settings().task_runner))
def training(
    dataset: str = "synthetic",
    model: str | None = None,
    k: int = DEFAULT_K,
    notebooks: list[str] | None = None,
    tune: bool = False,
    margin: float | None = None,
    tolerance: float | None = None,
    top_n: int = TOP_N,
    shard_size: int = scoring.DEFAULT_SHARD_SIZE,
    events: str | None = None,
    window: str | None = None,
    event_weights: str | None = None,
    half_life_days: float | None = None,
) -> dict:
    """Turn a data set into a live model version, or say why not.

    ``events="warehouse"`` (default ``NBREC_TRAIN_EVENTS``) adds the warehouse's events inside
    ``window`` to the data set, weighted by ``event_weights`` (``nbrec.events.training``).
    """
    settings = get_settings()
    run_name, started = flow_run.name or "local", status.now_iso()
    try:
        if notebooks is None:
            notebooks = [n.strip() for n in settings.train_notebooks.split(",") if n.strip()]
        events = settings.train_events if events is None else events
        if events not in ("", "none", "warehouse"):
            raise ValueError(f"events={events!r}: use 'warehouse' (or '' for the base data only)")
        extra = None
        if events == "warehouse":
            extra = read_events(
                window or settings.train_window, event_weights or settings.event_weights,
                settings.event_half_life_days if half_life_days is None else half_life_days,
            )  # fmt: skip
        result = _train(dataset, model or settings.train_model, k, notebooks, tune,
                        settings.gate_margin if margin is None else margin,
                        settings.gate_tolerance if tolerance is None else tolerance,
                        top_n, shard_size, run_name, extra)  # fmt: skip
    except Exception as exc:
        status.record_run(run_name, "failed", started, reason=f"{type(exc).__name__}: {exc}")
        raise
    status.record_run(
        run_name, result["status"], started, result.get("version"), result.get("reason")
    )
    return result


def _train(
    dataset, model, k, notebooks, tune, margin, tolerance, top_n, shard_size, run_name,
    events=None,
) -> dict:  # fmt: skip
    logger = get_run_logger()
    snap = take_snapshot(dataset, events)
    if events is not None:
        logger.info(f"{len(events)} warehouse events added to {dataset}")
    logger.info(f"snapshot {snap.data_hash} at {snap.path}")
    validate_inputs(snap, run_name)
    data = snap.dataset()
    params_hash = versions.params_hash({"dataset": snap.data_hash, "model": model, "k": k, "tune": tune,
                                        "notebooks": notebooks, "top_n": top_n})  # fmt: skip
    notebook_results = run_notebooks(notebooks, snap, run_name, params_hash) if notebooks else {}

    chosen, popularity, live, live_version = choose(data, model, k, tune)
    decision = gate.decide(chosen.score, popularity, live, margin, tolerance, f"ndcg@{k}")
    logger.info(f"gate: {'pass' if decision.passed else 'REJECT'}: {decision.reason}")
    if not decision.passed:
        return {"status": "rejected", "version": None, "reason": decision.reason, "live": live_version,
                "gate": decision.as_dict()}  # fmt: skip

    version = versions.version_id(snap.data_hash, {"model": chosen.model, "params": chosen.params, "k": k,
                                                   "top_n": top_n})  # fmt: skip
    # The fitted model as a future: on Dask it stays on the cluster and each worker fetches it
    # once for all its shards, instead of being shipped from here inside every shard's task.
    fitted = fit_final.submit(chosen, data)
    final = fitted.result()
    users = final.user_ids_.to_numpy()
    parts = score_shard.map(
        unmapped(fitted), scoring.shards(users, shard_size), unmapped(k)
    ).result()
    recs = pd.concat(parts, ignore_index=True)
    validate_recommendations(recs, final, data, k, run_name, "candidate")

    metrics = {"metric": f"ndcg@{k}", "candidate": chosen.score, "popularity": popularity, "live": live,
               "tried": chosen.tried, "skipped": chosen.skipped}  # fmt: skip
    metadata = {"metrics": metrics, "data_hash": snap.data_hash, "dataset": snap.name, "params": chosen.params,
                "code_version": versions.code_version(), "k": k, "top_n": top_n, "flow_run": run_name,
                "notebooks": notebook_results}  # fmt: skip
    registered = save_model(final, version, metadata)
    published = publish(final, version, data, top_n)
    stored = read_published(version, recs[USER_COL].unique(), k)
    validate_recommendations(stored, final, data, k, run_name, "published")
    go_live(version)
    reason = f"{decision.reason}; " + ("registered" if registered else "already registered") + (
        ", published" if published else ", already published")  # fmt: skip
    logger.info(f"{version} ({chosen.model}) is live: {reason}")
    return {"status": "completed", "version": version, "reason": reason, "model": chosen.model,
            "previous": live_version, "gate": decision.as_dict(), "registered": registered}  # fmt: skip


def run_training(**params) -> dict:
    """Run the flow on the task runner named by ``NBREC_TASK_RUNNER`` now (threads by default)."""
    from prefect.settings import temporary_settings

    runner = scoring.make_task_runner(get_settings().task_runner)
    # A busy 2-core machine can need more than Prefect's default 20 s to start the ephemeral API.
    with temporary_settings(set_defaults={"server.ephemeral.startup_timeout_seconds": 120}):
        return training.with_options(task_runner=runner)(**params)


if __name__ == "__main__":
    print(run_training())
