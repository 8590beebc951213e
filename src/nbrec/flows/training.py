"""Training flow: snapshot -> validate -> notebooks -> gate -> save -> publish -> go live.

Thin on purpose: every task is one call into ``nbrec.pipeline`` and takes the run's
``TrainingParams``. Run it with ``nbrec train`` (or ``python flows/training.py``, the deployable
entry point). A run ends "completed" (a new version is live), "rejected" (the gate said no;
production is unchanged) or "failed" (e.g. validation: the error names the expectations).
"""

from __future__ import annotations

import numpy as np
from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from nbrec.constants import DEFAULT_K, TOP_N
from nbrec.data.schema import Dataset
from nbrec.pipeline import (
    candidates,
    checks,
    comparison,
    gate,
    lifecycle,
    model_store,
    notebook_runs,
    run_artifacts,
    scoring,
    snapshot,
    status,
    versions,
)
from nbrec.pipeline.run import TrainingParams
from nbrec.settings import get_settings
from nbrec.store import StoreError, open_store

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
def take_snapshot(params: TrainingParams, events=None) -> snapshot.DataSnapshot:
    return snapshot.take_snapshot(params.dataset, events=events)


@task(**STEP, **RETRY)
def read_events(params: TrainingParams):
    """The warehouse's events inside the window as weighted interactions (nbrec.events)."""
    from nbrec.events.training import event_interactions

    return event_interactions(window=params.window, weights=params.event_weights,
                              half_life_days=params.half_life_days or None)  # fmt: skip


@task(**STEP)
def validate_inputs(snap: snapshot.DataSnapshot, params: TrainingParams) -> dict:
    return checks.check_snapshot(snap, params.run_name)


@task(**STEP)
def run_notebooks(snap: snapshot.DataSnapshot, params: TrainingParams) -> dict:
    out_dir = notebook_runs.run_dir(params.run_name, params.params_hash(snap.data_hash))
    return notebook_runs.run_notebooks(list(params.notebooks), str(snap.path), out_dir)


@task(**STEP)
def compare(data: Dataset, params: TrainingParams) -> comparison.Comparison:
    """The candidate recipe and the validation metric of popularity and of the live recipe."""
    live, recipe = lifecycle.live_recipe()
    found = comparison.compare(data, params.model, params.k, params.tune, live, recipe)
    for name, reason in found.candidate.skipped.items():
        get_run_logger().warning(f"{name} skipped: {reason}")
    return found


@task(**STEP)
def fit_final(chosen: candidates.Candidate, data: Dataset):
    return candidates.fit_final(chosen, data, comparison.memory_budget())


@task(**STEP)
def score_shard(model, rows, depth: int):
    return scoring.score_rows(model, rows, depth)


@task(**STEP)
def validate_recommendations(recs, model, data: Dataset, params: TrainingParams, label: str) -> str:
    return checks.check_recommendations(recs, model, data, params.k, params.run_name, label)


@task(**STEP)
def save_model(model, version: str, metadata: dict) -> bool:
    return model_store.save_model(model, version, metadata)[1]


@task(**STEP, **RETRY)
def publish(model, version: str, data: Dataset, params: TrainingParams, ranked) -> bool:
    return lifecycle.publish_version(model, version, open_store(), data.items, params.top_n,
                                     ranked)  # fmt: skip


@task(**STEP, **RETRY)
def read_published(version: str, user_ids, params: TrainingParams):
    return lifecycle.published_recs(open_store(), version, user_ids, params.k)


@task(**STEP, **RETRY)
def go_live(version: str) -> None:
    open_store().set_live(version)


# The task runner NBREC_TASK_RUNNER names, read when this module is imported: direct runs,
# `nbrec train`, the schedules and work-pool deployments (prefect.yaml) alike.
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
    """Turn a data set into a live model version, or say why not (None: from NBREC_*).

    ``events="warehouse"`` (default ``NBREC_TRAIN_EVENTS``) adds the warehouse's events inside
    ``window`` to the data set, weighted by ``event_weights`` (``nbrec.events.training``).
    """
    run_name, started = flow_run.name or "local", status.now_iso()
    try:
        params = TrainingParams.from_settings(
            dataset=dataset, model=model, k=k, notebooks=notebooks, tune=tune, margin=margin,
            tolerance=tolerance, top_n=top_n, shard_size=shard_size, run_name=run_name,
            events=events, window=window, event_weights=event_weights,
            half_life_days=half_life_days,
        )  # fmt: skip
        result = train(params)
    except Exception as exc:
        status.record_run(run_name, "failed", started, reason=f"{type(exc).__name__}: {exc}")
        raise
    status.record_run(
        run_name, result["status"], started, result.get("version"), result.get("reason")
    )
    return result


def train(params: TrainingParams) -> dict:
    """The run's steps as Prefect tasks (call inside the flow)."""
    logger = get_run_logger()
    extra = read_events(params) if params.events == "warehouse" else None
    snap = take_snapshot(params, extra)
    if extra is not None:
        logger.info(f"{len(extra)} warehouse events added to {params.dataset}")
    logger.info(f"snapshot {snap.data_hash} at {snap.path}")
    validate_inputs(snap, params)
    data = snap.dataset()
    notebook_results = run_notebooks(snap, params) if params.notebooks else {}

    rivals = compare(data, params)
    chosen = rivals.candidate
    decision = gate.decide(chosen.score, rivals.popularity, rivals.live, params.margin,
                           params.tolerance, params.metric)  # fmt: skip
    logger.info(f"gate: {'pass' if decision.passed else 'REJECT'}: {decision.reason}")
    run_artifacts.leaderboard(chosen.tried, params.metric, chosen.model, rivals.popularity)
    run_artifacts.gate(decision.as_dict(), params.metric, params.margin, params.tolerance)
    if not decision.passed:
        run_artifacts.run_validation(params.run_name)
        return {"status": "rejected", "version": None, "reason": decision.reason,
                "live": rivals.live_version, "gate": decision.as_dict()}  # fmt: skip

    version = params.version(snap.data_hash, chosen.model, chosen.params)
    # The fitted model as a future: on Dask it stays on the cluster and each worker fetches it
    # once for all its shards, instead of being shipped from here inside every shard's task.
    fitted = fit_final.submit(chosen, data)
    final = fitted.result()
    # One scoring pass at the depth the store serves: validation checks its first k columns,
    # publish writes the same arrays (no second top-N over every user).
    shards = scoring.shards(np.arange(len(final.user_ids_)), params.shard_size)
    depth = max(params.top_n, params.k)
    futures = score_shard.map(unmapped(fitted), shards, unmapped(depth))
    parts = list(scoring.in_order(futures, len(final.user_ids_), len(shards)))
    ranked = scoring.ranked_table(final, parts)
    validate_recommendations(ranked, final, data, params, "candidate")

    metrics = {"metric": params.metric, "candidate": chosen.score, "popularity": rivals.popularity,
               "live": rivals.live, "tried": chosen.tried, "skipped": chosen.skipped}  # fmt: skip
    metadata = {"metrics": metrics, "data_hash": snap.data_hash, "dataset": snap.name,
                "params": chosen.params, "code_version": versions.code_version(), "k": params.k,
                "top_n": params.top_n, "flow_run": params.run_name,
                "notebooks": notebook_results}  # fmt: skip
    saved = save_model(final, version, metadata)
    published = publish(final, version, data, params, ranked)
    stored = read_published(version, ranked.user_ids, params)
    validate_recommendations(stored, final, data, params, "published")
    go_live(version)
    reason = f"{decision.reason}; " + ("registered" if saved else "already registered") + (
        ", published" if published else ", already published")  # fmt: skip
    logger.info(f"{version} ({chosen.model}) is live: {reason}")
    result = {"status": "completed", "version": version, "reason": reason, "model": chosen.model,
              "previous": rivals.live_version, "gate": decision.as_dict(),
              "registered": saved}  # fmt: skip
    run_artifacts.run_validation(params.run_name)
    run_artifacts.published(result, params.top_n)
    return result


def run_training(**params) -> dict:
    """Run the flow on the task runner named by ``NBREC_TASK_RUNNER`` now (threads by default)."""
    from prefect.settings import temporary_settings

    runner = scoring.make_task_runner(get_settings().task_runner)
    # A busy 2-core machine can need more than Prefect's default 20 s to start the ephemeral API.
    with temporary_settings(set_defaults={"server.ephemeral.startup_timeout_seconds": 120}):
        return training.with_options(task_runner=runner)(**params)
