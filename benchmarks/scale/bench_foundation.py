"""Scale benchmark of the foundation: synthetic generation at 10M events, metrics at 1M users.

    .venv/bin/python benchmarks/scale/bench_foundation.py [--events 10000000] [--users 1000000]

Each part runs in its own process so peak memory (ru_maxrss) is its own. The metric part is
measured side by side with ranx (an independent, numba-compiled implementation) on a sample of
users, and reported as a ratio; then nbrec alone at full size. Results go to foundation.md
(included in RESULTS.md by bench_scale.py --record).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def generation(events: int) -> dict:
    from nbrec.data.synthetic import generate

    start = time.perf_counter()
    ds = generate(users=events // 20, items=max(events // 200, 1_000), interactions=events, seed=42)
    seconds = time.perf_counter() - start
    return {"events": len(ds.interactions), "seconds": seconds, "peak_rss_gib": peak_rss_gib()}


def metrics(n_users: int, sample: int) -> dict:
    import numpy as np
    import pandas as pd

    from nbrec.evaluation.metrics import accuracy

    rng = np.random.default_rng(0)
    k, n_items = 10, 20_000
    users = np.array([f"u{u}" for u in range(n_users)], dtype=object)
    recs = pd.DataFrame(
        {
            "user_id": np.repeat(users, k),
            "item_id": rng.integers(0, n_items, n_users * k).astype(str),
            "rank": np.tile(np.arange(1, k + 1), n_users),
        }
    )
    n_test = rng.integers(1, 6, n_users)
    test = pd.DataFrame(
        {
            "user_id": np.repeat(users, n_test),
            "item_id": rng.integers(0, n_items, n_test.sum()).astype(str),
        }
    )
    start = time.perf_counter()
    accuracy(recs, test, k)
    full = time.perf_counter() - start

    small_users = set(users[:sample])
    small_recs = recs[recs["user_id"].isin(small_users)]
    small_test = test[test["user_id"].isin(small_users)]
    start = time.perf_counter()
    accuracy(small_recs, small_test, k)
    ours = time.perf_counter() - start
    import ranx

    qrels = {u: dict.fromkeys(g["item_id"], 1) for u, g in small_test.groupby("user_id")}
    run = {
        u: dict(zip(g["item_id"], (k - g["rank"]).astype(float), strict=False))
        for u, g in small_recs.groupby("user_id")
    }
    names = ["precision@10", "recall@10", "ndcg@10", "map@10", "mrr@10", "hit_rate@10"]
    ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names)  # compile numba once
    start = time.perf_counter()
    ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names)
    theirs = time.perf_counter() - start
    return {
        "users": n_users, "seconds": full, "sample_users": sample,
        "nbrec_sample_seconds": ours, "ranx_sample_seconds": theirs,
        "ranx_over_nbrec": theirs / ours, "peak_rss_gib": peak_rss_gib(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--part", choices=["generation", "metrics"])
    args = parser.parse_args()
    if args.part:
        result = (
            generation(args.events)
            if args.part == "generation"
            else metrics(args.users, args.sample)
        )
        print(json.dumps(result))
        return
    out = {}
    for part in ("generation", "metrics"):
        cmd = [sys.executable, __file__, "--part", part, "--events", str(args.events),
               "--users", str(args.users), "--sample", str(args.sample)]  # fmt: skip
        out[part] = json.loads(
            subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        )
        print(part, out[part])
    g, m = out["generation"], out["metrics"]
    command = (
        f"python benchmarks/scale/bench_foundation.py --events {args.events} --users {args.users}"
    )
    (HERE / "foundation.md").write_text(
        f"""# Foundation scale benchmark

Command: `{command}`
Machine: {platform.machine()}, {platform.processor() or "cpu"}, 2 cores, 24 GiB; Python {platform.python_version()};
{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}. Other jobs were running on the machine (shared 2 cores).

| what | figure | goal |
|---|---|---|
| synthetic generation, {g["events"]:,} events | {g["seconds"]:.1f} s, peak RSS {g["peak_rss_gib"]:.2f} GiB | a few GiB |
| ranking metrics @10, {m["users"]:,} users | {m["seconds"]:.1f} s, peak RSS {m["peak_rss_gib"]:.2f} GiB | seconds, not minutes |
| same, {m["sample_users"]:,} users: nbrec vs ranx (numba) | {m["nbrec_sample_seconds"]:.2f} s vs {m["ranx_sample_seconds"]:.2f} s: ranx/nbrec = {m["ranx_over_nbrec"]:.2f} | |
"""
    )


if __name__ == "__main__":
    main()
