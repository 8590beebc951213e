"""Benchmark: ``nbrec train`` on MovieLens-100k, end to end and by stage.

Runs, in one process and one throw-away nbrec home (var/, model store, feature store):
1. the reference: the chosen model fitted on all interactions and every user scored, bare;
2. the training flow (Prefect, ephemeral API) with stage times read back from Prefect's task runs;
3. ``nbrec train`` as a subprocess, wall clock, as a user runs it on a fresh install.
Prints the figures and ratios, and writes RESULTS.md next to this file.

    NBREC_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/pipeline/bench_train.py [--model auto]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_SECONDS = 120


def isolate(home: Path) -> None:
    (home / "prefect").mkdir(parents=True)
    os.environ.update(
        NBREC_VAR_DIR=str(home / "var"), NBREC_MODEL_STORE_DIR=str(home / "models"), NBREC_STORE_URL="",
        BENTOML_DO_NOT_TRACK="True", PREFECT_HOME=str(home / "prefect"),
    )  # fmt: skip


def stage_times(flow_run_id) -> dict[str, float]:
    """Seconds per task name (shards summed), from Prefect's record of the run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    times: dict[str, float] = defaultdict(float)
    for run in sorted(runs, key=lambda r: r.start_time or r.expected_start_time):
        name = run.name.rsplit("-", 1)[0]
        times[name] += run.total_run_time.total_seconds()
    return dict(times)


def reference(model_name: str, params: dict, dataset: str) -> float:
    from nbrec.data import load_dataset
    from nbrec.data.schema import deduplicate
    from nbrec.models import make_model

    data = load_dataset(dataset)
    start = time.perf_counter()
    model = make_model(model_name, **params).fit(
        deduplicate(data.interactions), data.items, data.users
    )
    model.recommend(model.user_ids_, 10)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="movielens-100k")
    parser.add_argument("--model", default="auto")
    args = parser.parse_args()
    from nbrec.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="nbrec-bench-") as tmp:
        isolate(Path(tmp) / "inprocess")
        get_settings.cache_clear()
        from nbrec.flows import training

        start = time.perf_counter()
        state = training.run_training(dataset=args.dataset, model=args.model, return_state=True)
        flow_seconds = time.perf_counter() - start
        result = state.result()
        stages = stage_times(state.state_details.flow_run_id)
        from nbrec.pipeline import model_store

        entry = model_store.get_model_version(result["version"]) if result.get("version") else None
        chosen = (entry.model, entry.metadata.get("params", {})) if entry else ("popularity", {})
        ref = reference(*chosen, args.dataset)

        (Path(tmp) / "cli" / "prefect").mkdir(parents=True)
        env = dict(os.environ)
        env.update(NBREC_VAR_DIR=str(Path(tmp) / "cli" / "var"), NBREC_MODEL_STORE_DIR=str(Path(tmp) / "cli" / "models"),
                   PREFECT_HOME=str(Path(tmp) / "cli" / "prefect"))  # fmt: skip
        command = [
            str(Path(sys.executable).with_name("nbrec")),
            "train",
            "--dataset",
            args.dataset,
            "--model",
            args.model,
        ]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        cli_seconds = time.perf_counter() - start

    lines = [
        "# Pipeline benchmark: `nbrec train`",
        "",
        f"- command: `NBREC_DATA_DIR=... .venv/bin/python benchmarks/pipeline/bench_train.py --dataset {args.dataset} --model {args.model}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- result: {result['status']}, version {result.get('version')}, model {chosen[0]}; {result.get('reason')}",
        f"- candidates tried (validation ndcg@10): {entry.metrics.get('tried') if entry else '-'}",
        "",
        "| stage (Prefect task) | seconds | share of flow |",
        "|---|---:|---:|",
    ]
    for name, seconds in stages.items():
        lines.append(f"| {name} | {seconds:.2f} | {seconds / flow_seconds:.0%} |")
    lines += [
        f"| (flow overhead: Prefect, logging, between tasks) | {flow_seconds - sum(stages.values()):.2f} | "
        f"{(flow_seconds - sum(stages.values())) / flow_seconds:.0%} |",
        "",
        "| measure | seconds | ratio to reference |",
        "|---|---:|---:|",
        f"| reference: fit chosen model on all data + score every user, bare | {ref:.2f} | 1.0 |",
        f"| training flow in process (includes starting the ephemeral Prefect API) | {flow_seconds:.2f} | {flow_seconds / ref:.1f} |",
        f"| `nbrec train` subprocess, fresh store, end to end (exit {done.returncode}) | {cli_seconds:.2f} | {cli_seconds / ref:.1f} |",
        "",
        f"Goal: `nbrec train` under {GOAL_SECONDS} s end to end on 2 cores: "
        + ("**met**" if cli_seconds < GOAL_SECONDS and done.returncode == 0 else "**NOT met**")
        + f" ({cli_seconds:.0f} s).",
    ]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [
        "",
        f"Notes: load average at the end of the run {load} (other engineers' tests share the machine).",
        "Stage times are Prefect's `total_run_time` of each task run (score_shard summed over shards);",
        '"flow overhead" is everything else inside the flow call: starting the ephemeral Prefect API',
        "server, imports, task orchestration and logging. `choose` fits and scores every candidate",
        "(`--model auto`: all registered models but random) on the validation split; `run_notebooks`",
        "executes NBREC_TRAIN_NOTEBOOKS (01_framing, 02_baselines) on the snapshot.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-3000:], file=sys.stderr)
    (HERE / "RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
