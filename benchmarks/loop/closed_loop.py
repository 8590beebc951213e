"""Closed loop: does retraining from the warehouse follow drifting tastes and new hits?

    python benchmarks/loop/closed_loop.py [--users 200] [--requests 400] [--periods 4]

Two live services (``nbrec serve``) start from the same item-kNN version trained on the same
synthetic data: **loop** retrains after every period with ``nbrec train --events warehouse``
(after ``nbrec ingest``), **static** keeps its version (retraining on the static data alone
makes no new version: same data hash). A simulated population (``nbrec.experiments``'s
``Population``, clicks by known likes) drives both over HTTP with the same seed:

- each period, every user sends a few *organic* events (``/feedback`` purchases and views of
  items found outside the recommendations: search, browsing) on items they like now, and
  ``--requests`` recommendation requests whose clicks go to ``/feedback`` too;
- after period 0 tastes **drift**: every user's taste moves to the next category, and a few
  rarely seen items of each category turn into **hits** (organic events favour them).

Reported: online CTR per period and service with Wilson 95% intervals, and how many of the
new hits are in the top-10 of users of their (new) taste group after the first retrain that
saw the drift. Both services get their traffic at the same time (two threads), and every
``nbrec train`` uses one Prefect API server started here (not one of its own each time): the
defaults run all four periods in about six minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_feedback import NBREC, env_for, start_service, stop  # noqa: E402

HITS_PER_CATEGORY = 3


def wilson(successes: int, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return round(float(low), 4), round(float(high), 4)


def organic(url: str, pop, users: np.ndarray, hits: np.ndarray, rng, per_user: int = 3) -> int:
    """Each user's own events on items they like now (hits weighted x5)."""
    sent = 0
    with httpx.Client(base_url=url, timeout=10) as http:
        for row in users:
            liked = np.flatnonzero(pop.likes[row])
            if len(liked) == 0:
                continue
            weight = np.where(np.isin(liked, hits), 5.0, 1.0)
            for item in rng.choice(liked, size=per_user, p=weight / weight.sum()):
                event = "purchase" if rng.random() < 0.3 else "view"
                answer = http.post("/feedback", json={"user_id": str(pop.user_ids[row]),
                                   "item_id": str(pop.item_ids[item]), "event": event})  # fmt: skip
                sent += answer.status_code == 200
    return sent


def hits_in_top10(url: str, pop, hits_by_cat: dict, taste: np.ndarray, cats: np.ndarray) -> dict:
    """Per new hit: is it in the top-10 of at least one user of its taste group; mean share."""
    found, shares = set(), []
    with httpx.Client(base_url=url, timeout=10) as http:
        for row in range(len(pop.user_ids)):
            group_hits = {str(pop.item_ids[i]) for i in hits_by_cat[taste[row]]}
            answer = http.post(
                "/recommend", json={"user_id": str(pop.user_ids[row]), "k": 10}
            ).json()
            shown = {i["item_id"] for i in answer["items"]} & group_hits
            found |= shown
            shares.append(len(shown) / len(group_hits))
    total = sum(len(v) for v in hits_by_cat.values())
    return {
        "hits": total,
        "hits_in_some_top10": len(found),
        "mean_share_of_group_hits_in_top10": round(float(np.mean(shares)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument("--interactions", type=int, default=8000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--periods", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    # A `timeout` (SIGTERM) still stops the services it started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from nbrec.data import write_parquet_dataset
    from nbrec.data.synthetic import generate
    from nbrec.experiments.http_sim import run_http
    from nbrec.experiments.simulator import Population
    from nbrec.pipeline.prefect_server import local_server

    started, load = time.time(), os.getloadavg()
    data = generate(
        users=args.users, items=args.items, interactions=args.interactions, seed=args.seed
    )
    pop = Population.from_dataset(data, p_match=0.3, p_other=0.02)
    cats = data.items["category"].to_numpy()
    names = np.unique(cats)
    taste = np.searchsorted(names, data.meta["taste"]["taste_category"].to_numpy())
    item_cat = np.searchsorted(names, cats)
    counts = (
        data.interactions["item_id"]
        .value_counts()
        .reindex(data.items["item_id"])
        .fillna(0)
        .to_numpy()
    )
    hits_by_cat = {c: np.flatnonzero(item_cat == c)[np.argsort(counts[item_cat == c], kind="stable")[:HITS_PER_CATEGORY]]
                   for c in range(len(names))}  # fmt: skip
    hits = np.concatenate(list(hits_by_cat.values()))
    out: dict = {"config": vars(args), "load_before": load, "periods": [], "timings": []}
    with tempfile.TemporaryDirectory() as tmp, local_server(services=False) as prefect_url:
        work = Path(tmp)
        folder = write_parquet_dataset(data, work / "data")
        loop_dir, static_dir = work / "loop", work / "static"
        gate = {"NBREC_GATE_MARGIN": "-1", "NBREC_GATE_TOLERANCE": "1", "NBREC_TRAIN_NOTEBOOKS": "",
                "PREFECT_API_URL": prefect_url}  # fmt: skip
        train = [*NBREC, "train", "--dataset", str(folder), "--model", "item_knn"]
        subprocess.run(train, env=env_for(loop_dir, **gate), check=True, capture_output=True)
        shutil.copytree(loop_dir, static_dir)  # the same version, store and registry
        arms = {}
        for name, folder_ in (("loop", loop_dir), ("static", static_dir)):
            env = env_for(folder_, **gate)
            arms[name] = (env, *start_service(folder_, env))
        out["timings"].append({"setup_s": round(time.time() - started)})
        both = ThreadPoolExecutor(max_workers=len(arms))

        def traffic(url: str, period: int) -> dict:
            seed = args.seed * 100 + period
            users = np.arange(len(pop.user_ids))
            organic(
                url, pop, users, hits if period else np.array([], int), np.random.default_rng(seed)
            )
            summary = run_http(url, pop, users=len(users), requests=args.requests, seed=seed)
            return {"ctr": round(summary.ctr, 4), "ci95": wilson(summary.clicked_requests, summary.requests),
                    "requests": summary.requests, "errors": summary.errors}  # fmt: skip

        try:
            for period in range(args.periods):
                if period == 1:  # the drift: tastes move on, rare items of each category turn hits
                    taste = (taste + 1) % len(names)
                    pop.likes = taste[:, None] == item_cat[None, :]
                tick, row = time.time(), {"period": period}
                futures = {
                    name: both.submit(traffic, url, period) for name, (_, _, url) in arms.items()
                }
                row |= {name: future.result() for name, future in futures.items()}
                timing = {"period": period, "traffic_s": round(time.time() - tick)}
                print(json.dumps(row), flush=True)
                out["periods"].append(row)
                if period + 1 < args.periods:  # the loop retrains on what it has seen
                    env, tick = arms["loop"][0], time.time()
                    subprocess.run([*NBREC, "ingest"], env=env, check=True, capture_output=True)
                    timing["ingest_s"], tick = round(time.time() - tick), time.time()
                    result = subprocess.run([*train, "--events", "warehouse", "--window", "90d"],
                                            env=env, capture_output=True, text=True)  # fmt: skip
                    timing["retrain_s"] = round(time.time() - tick)
                    print(
                        "retrain:",
                        result.returncode,
                        result.stderr.strip().splitlines()[-1:],
                        flush=True,
                    )
                    time.sleep(1.0)  # the service picks up the new live version
                if period == 1:
                    futures = {name: both.submit(hits_in_top10, url, pop, hits_by_cat, taste, item_cat)
                               for name, (_, _, url) in arms.items()}  # fmt: skip
                    out["hits_after_first_retrain"] = {n: f.result() for n, f in futures.items()}
                    print(json.dumps(out["hits_after_first_retrain"]), flush=True)
                out["timings"].append(timing)
                print(json.dumps(timing), flush=True)
        finally:
            both.shutdown(cancel_futures=True)
            for _, proc, _ in arms.values():
                stop(proc)
    out["seconds"] = round(time.time() - started)
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
