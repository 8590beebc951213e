"""Accuracy benchmark: the leaderboard on MovieLens, with fit/scoring times and Cornac peers.

    NBREC_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/accuracy/run.py \
        [--datasets movielens-100k,movielens-latest-small] [--models all] [--out benchmarks/accuracy/RESULTS.md]

Protocol (DESIGN.md): per-user stratified 75/25 split, seed 42, hyperparameters chosen on a
validation split carved from train, training items never recommended, k = 10, every test
interaction relevant, the test split scored once. Peers (Cornac BPR and EASE) are fitted on
the identical training frame with fixed published hyperparameters and scored by nbrec's
``evaluate``. Also: a replay of Thompson sampling vs random on a simulated uniform log.
Writes a markdown results file with the machine, the command and the figures.
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
from peers import PEERS, run_peer  # noqa: E402

from nbrec.constants import DEFAULT_K, USER_COL  # noqa: E402
from nbrec.data import load_dataset  # noqa: E402
from nbrec.evaluation import evaluate, prepare_split, run_leaderboard  # noqa: E402
from nbrec.evaluation import replay as rp  # noqa: E402
from nbrec.models import bandits  # noqa: E402

K = DEFAULT_K
SHOWN = ["model", f"ndcg@{K}", f"precision@{K}", f"recall@{K}", f"map@{K}", "coverage",
         f"validation_ndcg@{K}", "fit_seconds", "score_seconds"]  # fmt: skip


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
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def bench_dataset(name: str, models: str, replay_events: int) -> tuple[pd.DataFrame, dict, dict]:
    dataset = load_dataset(name)
    data_split = prepare_split(dataset)
    start = time.perf_counter()
    board = run_leaderboard(dataset, models, k=K, data_split=data_split, progress=True)
    table = board.table.assign(kind="nbrec")
    info = {"champion": board.champion, "protocol": board.protocol, "leaderboard_seconds": time.perf_counter() - start,
            "fit_total": float(board.table["fit_seconds"].sum())}  # fmt: skip
    rows = []
    test_users = data_split.test[USER_COL].unique()
    for peer in PEERS:
        recs, fit_s, score_s = run_peer(peer, data_split.train, test_users, K)
        metrics = evaluate(recs, data_split.test, data_split.train, K, dataset.items)
        rows.append({"model": peer, **metrics, "fit_seconds": fit_s, "score_seconds": score_s, "kind": "peer",
                     "params": str(PEERS[peer][1])})  # fmt: skip
    table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    log = rp.simulate_uniform_log(dataset.interactions, n_arms=50, n_events=replay_events)
    _, _, results = rp.compare_policies(
        {"thompson": bandits.ThompsonSampling(), "random": bandits.RandomPolicy()}, log
    )
    replay = {"thompson": results["thompson"].summary(), "random": results["random"].summary(),
              "difference": rp.compare_two(results["thompson"], results["random"])}  # fmt: skip
    return table, info, replay


def fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(sections: list[tuple[str, pd.DataFrame, dict, dict]], command: str) -> str:
    lines = ["# Accuracy benchmark", "", f"- command: `{command}`", f"- machine: {machine()}",
             f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}", f"- commit: {git_commit()}", ""]  # fmt: skip
    for name, table, info, replay in sections:
        peer_bpr = table.loc[table["model"] == "cornac_bpr"].iloc[0]
        best = table.loc[table["model"] == info["champion"]].iloc[0]
        lines += [f"## {name}", "", f"protocol: `{info['protocol']}`", "",
                  f"champion (best validation NDCG@{K}): **{info['champion']}**, test NDCG@{K} {best[f'ndcg@{K}']:.4f} "
                  f"= {best[f'ndcg@{K}'] / peer_bpr[f'ndcg@{K}']:.2f}x Cornac BPR's {peer_bpr[f'ndcg@{K}']:.4f}", "",
                  f"fit time of all nbrec models (final fits): {info['fit_total']:.1f} s "
                  f"(Cornac BPR alone: {peer_bpr['fit_seconds']:.1f} s); whole leaderboard with tuning: "
                  f"{info['leaderboard_seconds']:.0f} s", ""]  # fmt: skip
        shown = table[[*SHOWN, "kind"]].copy()
        shown["fit vs cornac_bpr"] = shown["fit_seconds"] / peer_bpr["fit_seconds"]
        lines.append("| " + " | ".join(shown.columns) + " |")
        lines.append("|" + "---|" * len(shown.columns))
        for _, row in shown.iterrows():
            lines.append("| " + " | ".join(fmt(v) if pd.notna(v) else "-" for v in row) + " |")
        lines.append("")
        lines.append(
            "tuned hyperparameters: "
            + "; ".join(f"{r.model} {r.params}" for r in table.itertuples() if r.kind == "nbrec")
        )
        d, t, r = replay["difference"], replay["thompson"], replay["random"]
        lines += ["", f"replay (uniform log, {t['events']:,} events, 50 arms): Thompson CTR {t['ctr']:.3f} "
                  f"[{t['ctr_low']:.3f}, {t['ctr_high']:.3f}] on {t['matched']} matched events; random {r['ctr']:.3f} "
                  f"[{r['ctr_low']:.3f}, {r['ctr_high']:.3f}]; difference {d['ctr_diff']:+.3f} "
                  f"[{d['diff_low']:+.3f}, {d['diff_high']:+.3f}], p = {d['p_value']:.2g}", ""]  # fmt: skip
    return "\n".join(lines)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="movielens-100k,movielens-latest-small")
    parser.add_argument("--models", default="all")
    parser.add_argument("--replay-events", type=int, default=200_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS.md"))
    args = parser.parse_args()
    command = "NBREC_DATA_DIR=<data> python benchmarks/accuracy/run.py " + " ".join(sys.argv[1:])
    sections = []
    for name in args.datasets.split(","):
        table, info, replay = bench_dataset(name, args.models, args.replay_events)
        print(table[[*SHOWN, "kind"]].to_string(index=False), flush=True)
        sections.append((name, table, info, replay))
    text = markdown(sections, command)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
