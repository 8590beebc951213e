"""Experiments benchmark: assignment cost, online bandit cost, and the trust figures at full size.

    .venv/bin/python benchmarks/experiments/bench_experiments.py [--aa-runs 300] [--power-runs 500]

1. Assignment: ns per call of ``Allocator.variant`` and ``ExperimentRouter.route`` (two layers),
   as a ratio to references timed in the same run: a dict lookup of a precomputed assignment
   (what a shared-state design costs at best) and one bare blake2b digest.
2. Online bandit: ms per ``OnlineBandit.recommend`` (pool 50, k 10) on SQLite, ratio to one
   ``store.counters`` read.
3. Trust: A/A false-positive rates over ``--aa-runs`` experiments on heavy-tailed, heterogeneous
   traffic through the full analysis (1,000 vectorised runs: bench_peeking.py), measured power at the sample
   size the power analysis asks for over ``--power-runs``, SRM detection rate of a 45/55 split.
Results go to RESULTS.md next to this file.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import timeit
from datetime import UTC, datetime
from hashlib import blake2b
from pathlib import Path

import numpy as np

from nbrec.data.synthetic import generate
from nbrec.experiments.analysis import analyze
from nbrec.experiments.assignment import Allocator, ExperimentRouter
from nbrec.experiments.config import Experiment
from nbrec.experiments.online import OnlineBandit
from nbrec.experiments.simulator import Population, simulate
from nbrec.experiments.traffic import Traffic
from nbrec.experiments.trust import aa_runs, power_runs, two_way, with_allocations
from nbrec.store import open_store

HERE = Path(__file__).resolve().parent
PEEKING = "<!-- peeking -->"  # where bench_peeking.py's section starts in RESULTS.md
VARIANTS = [{"name": "a", "allocation": 0.5}, {"name": "b", "allocation": 0.5}]


def per_call_ns(func, users: list[str]) -> float:
    """Best of 5 repeats, ns per call, over ``users``."""
    loops = timeit.repeat(lambda: [func(u) for u in users], number=1, repeat=5)
    return min(loops) / len(users) * 1e9


def bench_assignment() -> list[tuple[str, float, float]]:
    users = [f"user-{i}" for i in range(100_000)]
    exp = Experiment(name="bench", holdout=0.05, variants=VARIANTS)
    allocator = Allocator(exp)
    router = ExperimentRouter([
        Experiment(name="e1", layer="L1", traffic=0.5, variants=VARIANTS),
        Experiment(name="e2", layer="L1", traffic=0.5, variants=VARIANTS),
        Experiment(name="e3", layer="L2", variants=VARIANTS),
    ])  # fmt: skip
    table = {u: allocator.variant(u) for u in users}
    reference = per_call_ns(table.get, users)
    rows = [("dict lookup of a precomputed assignment (reference)", reference)]
    rows.append(("one blake2b digest of salt:user", per_call_ns(lambda u: blake2b(f"s:{u}".encode(), digest_size=8).digest(), users)))  # fmt: skip
    rows.append(("Allocator.variant (holdout + 2 variants)", per_call_ns(allocator.variant, users)))
    rows.append(
        ("ExperimentRouter.route (2 layers, 3 experiments)", per_call_ns(router.route, users))
    )
    return [(name, ns, ns / reference) for name, ns in rows]


def bench_bandit() -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        pool = [f"i{i}" for i in range(50)]
        bandit = OnlineBandit(store, "bench:ts")
        rng = np.random.default_rng(0)
        for _ in range(200):  # warm counters
            bandit.feedback(bandit.recommend(pool, 10, rng).items[0])
        n = 500
        start = time.perf_counter()
        for _ in range(n):
            store.counters("bench:ts")
        read = (time.perf_counter() - start) / n * 1e3
        start = time.perf_counter()
        for _ in range(n):
            bandit.recommend(pool, 10, rng)
        recommend = (time.perf_counter() - start) / n * 1e3
        store.close()
    return [("store.counters read (reference)", read, 1.0),
            ("OnlineBandit.recommend (Thompson, pool 50, k 10, propensities)", recommend, recommend / read)]  # fmt: skip


def srm_detection(population: Population, runs: int, users: int) -> float:
    design = two_way("srm")
    skewed = with_allocations(design, [0.45, 0.55])
    same = population.popular_policy()
    flagged = 0
    for run in range(runs):
        req, fb = simulate(
            population,
            skewed,
            {"control": same, "treatment": same},
            users,
            seed=run,
            salt=f"srm-{run}",
        )
        flagged += analyze(design, req, fb, bootstrap=False).srm["flagged"]
    return flagged / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa-runs", type=int, default=300)
    parser.add_argument("--power-runs", type=int, default=500)
    parser.add_argument("--srm-runs", type=int, default=200)
    args = parser.parse_args()
    load = os.getloadavg()[0]  # the machine may be shared: timings are noisy, ratios less so
    population = Population.from_dataset(
        generate(users=2_000, items=300, interactions=20_000, seed=1)
    )
    started = time.perf_counter()
    assignment = bench_assignment()
    bandit = bench_bandit()
    # Heavy-tailed, heterogeneous traffic (Zipf requests capped at 200, Beta(0.5, 2) click rates):
    # 3 requests per user at one click rate hid how wrong a request-level test is.
    aa = aa_runs(population, args.aa_runs, users=1000, holdout=0.05, seed=123, traffic=Traffic())
    power = power_runs(population, share=0.2, runs=args.power_runs, seed=456)
    srm = srm_detection(population, args.srm_runs, users=3000)
    elapsed = time.perf_counter() - started
    fpr = float((aa["p_value"] < 0.05).mean())
    fpr_ratio = float((aa["ratio_p_value"] < 0.05).mean())
    fpr_seq = float((aa["msprt_p_value"] < 0.05).mean())
    fpr_stop = float(aa["sequential_crossed"].mean())
    lines = [
        "# Experiments benchmark",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        f"- load average (1 min) at start: {load:.1f} (other jobs were running; compare ratios, not absolute ns)",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}` ({elapsed:.0f} s)",
        "",
        "## Assignment (goal: microseconds per call, no shared state)",
        "",
        "| operation | ns per call | ratio to dict lookup |",
        "|---|---:|---:|",
        *(f"| {name} | {ns:,.0f} | {ratio:.1f}x |" for name, ns, ratio in assignment),
        "",
        "## Online bandit on the SQLite feature store",
        "",
        "| operation | ms per call | ratio to a counters read |",
        "|---|---:|---:|",
        *(f"| {name} | {ms:.3f} | {ratio:.1f}x |" for name, ms, ratio in bandit),
        "",
        "## Trust (synthetic users with known tastes: 2,000 users, 300 items, 12 tastes)",
        "",
        "| check | goal | measured |",
        "|---|---|---:|",
        f"| A/A false-positive rate, Welch on per-user CTR ({args.aa_runs} runs, 1,000 users, Zipf(1.5) requests capped at 200, Beta(0.5, 2) click rates, 5% holdout) | 0.02-0.08 | {fpr:.3f} |",
        f"| A/A false-positive rate, request CTR by the delta method (same runs) | 0.02-0.08 | {fpr_ratio:.3f} |",
        f"| A/A false-positive rate, always-valid mSPRT p (same runs, one read) | <= 0.05 | {fpr_seq:.3f} |",
        f"| A/A false-positive rate, group-sequential stop rule (same runs, one read) | <= 0.05 | {fpr_stop:.3f} |",
        f"| A/A SRM false alarms at p < 0.001 | ~0.001 | {aa['srm'].mean():.3f} |",
        f"| A/B power at the power analysis' n = {power['users_per_variant']} per variant (CTR {power['baseline_ctr']:.4f} -> {power['treatment_ctr']:.4f}, {power['runs']} runs) | >= 0.8 (+-{3 * power['standard_error']:.3f}) | {power['measured_power']:.3f} |",
        f"| SRM flagged on an injected 45/55 split of a 50/50 design (3,000 users, {args.srm_runs} runs) | 1.0 | {srm:.3f} |",
        "",
    ]  # fmt: skip
    text = "\n".join(lines)
    path = HERE / "RESULTS.md"
    # bench_peeking.py owns the section from its marker on: keep it.
    kept = path.read_text().partition(PEEKING)[1:] if path.exists() else ("", "")
    path.write_text(text + ("\n" + "".join(kept) if kept[0] else ""))
    print(text)


if __name__ == "__main__":
    main()
