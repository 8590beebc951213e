"""Accuracy benchmark: nbrec's leaderboard and tuned peer libraries on the identical split.

    NBREC_DATA_DIR=/work/shared/data OPENBLAS_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/accuracy/run.py [--datasets movielens-100k,movielens-latest-small,synthetic] \\
        [--models all] [--peers all|none|NAME,...] [--time-budget 300] [--peer-budget 45] [--max-trials 12] \\
        [--out benchmarks/accuracy/results/NAME.md]

Protocol (DESIGN.md): per-user stratified 75/25 split, seed 42; every hyperparameter, of nbrec
models and of peers alike, chosen by Optuna TPE on a validation split carved from train (at
most ``--max-trials`` trials per model; nbrec's models share ``--time-budget`` seconds, each
peer gets ``--peer-budget``); training items never recommended; k = 10; every test interaction
relevant; the test split scored once. Fit and tuning seconds stand beside every figure.
Writes one markdown section per data set (machine, load, command, figures).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from peers import PEERS, Fitted, tune_peer  # noqa: E402

from nbrec.constants import DEFAULT_K, USER_COL  # noqa: E402
from nbrec.data import load_dataset  # noqa: E402
from nbrec.evaluation import evaluate, prepare_split, run_leaderboard  # noqa: E402

K = DEFAULT_K
SHOWN = ["model", "kind", f"ndcg@{K}", f"precision@{K}", f"recall@{K}", f"map@{K}", "coverage",
         f"validation_ndcg@{K}", "fit_seconds", "tuning_seconds", "trials"]  # fmt: skip


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, "
            f"OPENBLAS_NUM_THREADS={threads}")  # fmt: skip


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def bench_dataset(name: str, args) -> tuple[pd.DataFrame, dict]:
    dataset = load_dataset(name)
    data_split = prepare_split(dataset)
    load_before = os.getloadavg()
    start = time.perf_counter()
    board = run_leaderboard(dataset, args.models, k=K, data_split=data_split, progress=say,
                            max_trials=args.max_trials, time_budget=args.time_budget)  # fmt: skip
    table = board.table.assign(kind="nbrec")
    info = {"champion": board.champion, "protocol": board.protocol,
            "leaderboard_seconds": time.perf_counter() - start,
            "fit_total": float(board.table["fit_seconds"].sum())}  # fmt: skip
    rows = []
    test_users = data_split.test[USER_COL].unique()
    named = {"all": list(PEERS), "none": []}
    peers = named[args.peers] if args.peers in named else args.peers.split(",")
    for peer in peers:
        params, val, trials, tuning_s = tune_peer(peer, data_split, K, args.max_trials,
                                                  args.peer_budget, say=say)  # fmt: skip
        model = Fitted(peer, params, data_split.train, seed=42)
        recs = model.recommend(test_users, K)
        metrics = evaluate(recs, data_split.test, data_split.train, K, dataset.items)
        rows.append({"model": peer, **metrics, f"validation_ndcg@{K}": val, "kind": "peer",
                     "fit_seconds": model.fit_seconds, "tuning_seconds": tuning_s,
                     "trials": trials, "params": str(params)})  # fmt: skip
        say(f"peer {peer}: validation {val:.4f} test {metrics[f'ndcg@{K}']:.4f}")
    info["load"] = (load_before, os.getloadavg())
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True), info


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def section(name: str, table: pd.DataFrame, info: dict) -> list[str]:
    nbrec = table[table["kind"] == "nbrec"]
    peers = table[table["kind"] == "peer"]
    champ = nbrec.set_index("model").loc[info["champion"]]
    lines = [f"## {name}", "", f"protocol: `{info['protocol']}`", "",
             f"load average (1, 5, 15 min) before: {info['load'][0]}, after: {info['load'][1]}", "",
             f"champion (best validation NDCG@{K}): **{info['champion']}**, test NDCG@{K} "
             f"**{champ[f'ndcg@{K}']:.4f}**"]  # fmt: skip
    if len(peers):
        best = peers.sort_values(f"ndcg@{K}", ascending=False).iloc[0]
        lines[-1] += (f"; best tuned peer (by test NDCG, the strictest comparison): "
                      f"{best['model']} {best[f'ndcg@{K}']:.4f}; margin "
                      f"**{champ[f'ndcg@{K}'] - best[f'ndcg@{K}']:+.4f}**")  # fmt: skip
    lines += ["", f"fit time of all nbrec models (final fits on train): {info['fit_total']:.1f} s; "
              f"whole leaderboard with tuning: {info['leaderboard_seconds']:.0f} s", ""]  # fmt: skip
    shown = table.sort_values(f"ndcg@{K}", ascending=False)[SHOWN]
    lines.append("| " + " | ".join(shown.columns) + " |")
    lines.append("|" + "---|" * len(shown.columns))
    for _, row in shown.iterrows():
        lines.append("| " + " | ".join(fmt(v) if pd.notna(v) else "-" for v in row) + " |")
    lines += ["", "chosen hyperparameters (on validation): "
              + "; ".join(f"{r.model} `{r.params}`" for r in table.itertuples()), ""]  # fmt: skip
    return lines


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="movielens-100k,movielens-latest-small,synthetic")
    parser.add_argument("--models", default="all")
    parser.add_argument("--peers", default="all")
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--time-budget", type=float, default=300.0)
    parser.add_argument("--peer-budget", type=float, default=45.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS.md"))
    args = parser.parse_args()
    command = ("NBREC_DATA_DIR=<data> OPENBLAS_NUM_THREADS="
               f"{os.environ.get('OPENBLAS_NUM_THREADS', '')} python benchmarks/accuracy/run.py "
               + " ".join(sys.argv[1:]))  # fmt: skip
    lines = ["# Accuracy benchmark", "", f"- command: `{command}`", f"- machine: {machine()}",
             f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
             f"- commit: {git_commit()}", ""]  # fmt: skip
    for name in args.datasets.split(","):
        table, info = bench_dataset(name, args)
        lines += section(name, table, info)
        Path(args.out).write_text("\n".join(lines))  # after each data set: nothing lost
        print("\n".join(section(name, table, info)), flush=True)


if __name__ == "__main__":
    main()
