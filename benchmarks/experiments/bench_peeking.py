"""Experiments you may peek at: sequential tests, CUPED, delta method and interleaving, measured.

    .venv/bin/python benchmarks/experiments/bench_peeking.py [--runs 1000] [--seeds 5] [--full-runs 200]

On heavy-tailed, heterogeneous traffic (``Traffic``: Zipf(1.5) requests per user capped at
200, Beta(0.5, 2) click rates), all vectorised over runs through the estimators the analysis
uses:

1. A/A, ``--runs`` experiments x 2,000 users, 14 daily peeks: false-positive rate of the
   always-valid test and of a fixed-horizon test read daily, and of each fixed-horizon p-value
   read once; repeated over ``--seeds`` seeds (the tests use fixed seeds).
2. A/A through the full ``analyze`` (RR-log frames from the simulator with the same traffic),
   ``--full-runs`` experiments: Welch, delta-method and always-valid p-values.
3. A known-better variant under the mSPRT: power at the maximum sample and mean users at
   stopping vs the fixed-horizon n at the same power, for several effect sizes.
4. CUPED at a pre/in correlation of about 0.6: variance of the estimate across runs.
5. Interleaving vs A/B on CTR for two rankers fitted on synthetic data (EASE vs item-kNN):
   users for 80% power.

Results replace the section after ``<!-- peeking -->`` in RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from nbrec.data.synthetic import generate
from nbrec.experiments.simulator import Population
from nbrec.experiments.traffic import Traffic
from nbrec.experiments.trust import (
    aa_peeking,
    aa_runs,
    cuped_check,
    interleaving_vs_ab,
    sequential_power,
)

HERE = Path(__file__).resolve().parent
MARKER = "<!-- peeking -->"


def ci(read: dict) -> str:
    return f"{read['rate']:.3f} [{read['ci'][0]:.3f}, {read['ci'][1]:.3f}]"


def rankers(data, population: Population, k: int) -> dict[str, np.ndarray]:
    """Each model's top-(3k) item codes per population user (fitted on the synthetic data)."""
    from nbrec.models import make_model

    order = {item: i for i, item in enumerate(population.item_ids)}
    out = {}
    for name in ("ease", "item_knn", "popularity"):
        model = make_model(name).fit(data.interactions, data.items)
        recs = model.recommend(population.user_ids, k=3 * k)
        codes = recs["item_id"].map(order).to_numpy().reshape(len(population.user_ids), 3 * k)
        out[name] = codes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--full-runs", type=int, default=200)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    traffic = Traffic()
    lines = [MARKER, "", "## Peeking, sequential tests, CUPED, delta method, interleaving", "",
             f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}; load average (1 min) at "
             f"start: {load:.1f} (shared machine)", ""]  # fmt: skip

    # 1. A/A with daily peeks, over several seeds
    rows = []
    for seed in range(args.seeds):
        aa = aa_peeking(traffic, args.runs, users=2000, peeks=14, mde=0.02, seed=seed)
        fixed = aa["fixed_horizon"]
        rows.append(f"| {seed} | {ci(aa['sequential'])} | {ci(aa['naive'])} | {ci(fixed['welch'])} | "
                    f"{ci(fixed['ratio_delta'])} | {ci(fixed['cuped'])} | {ci(fixed['request_z_test (dropped)'])} |")  # fmt: skip
        print(rows[-1], flush=True)
    lines += [
        f"### A/A: {args.runs} experiments x 2,000 users, 14 daily peeks, alpha 0.05 (goal: sequential <= 0.05)",
        "",
        "False-positive rate with its Wilson 95% interval. Sequential = always-valid mSPRT (tau 0.02) "
        "read daily; naive = fixed-horizon Welch read daily, stopping at the first p < 0.05; the other "
        "columns read once at the end.",
        "",
        "| seed | sequential, daily | naive fixed-horizon, daily | Welch per-user CTR | request CTR, delta method | CUPED | request z-test (dropped) |",
        "|---:|---|---|---|---|---|---|",
        *rows,
        "",
    ]  # fmt: skip

    # 2. The full analyze on RR-log frames with the same traffic
    data = generate(users=2_000, items=300, interactions=20_000, seed=1)
    population = Population.from_dataset(data)
    full = aa_runs(population, args.full_runs, users=1000, holdout=0.05, seed=77, traffic=traffic)
    lines += [
        f"### A/A through `analyze` ({args.full_runs} runs, 1,000 users, Zipf/Beta traffic, 5% holdout)",
        "",
        "| p-value | false-positive rate |",
        "|---|---:|",
        f"| Welch per-user CTR (`p_value`) | {np.mean(full['p_value'] < 0.05):.3f} |",
        f"| request CTR, delta method (`ratio_p_value`) | {np.mean(full['ratio_p_value'] < 0.05):.3f} |",
        f"| always-valid (`sequential.p_value`, one read) | {np.mean(full['sequential_p_value'] < 0.05):.3f} |",
        f"| SRM false alarms at 0.001 | {full['srm'].mean():.3f} |",
        "",
    ]  # fmt: skip
    print(lines[-6:], flush=True)

    # 3. Known-better variant under the mSPRT
    rows = []
    for lift, planned, power in [
        (0.1, 0.1, 0.8),
        (0.1, 0.1, 0.95),
        (0.15, 0.1, 0.8),
        (0.2, 0.1, 0.8),
    ]:
        r = sequential_power(traffic, lift, runs=min(args.runs, 500), planned_lift=planned,
                             power=power, seed=int(lift * 100))  # fmt: skip
        rows.append(
            f"| {lift:+.0%} | {planned:+.0%} | {power:.2f} | {r['max_users_per_arm']:,} | "
            f"{ci(r['sequential_power'])} | {r['mean_users_at_stop']:,.0f} | {r['fixed_users_per_arm']:,} | "
            f"{ci(r['fixed_power'])} | {r['users_ratio']:.2f} |"
        )
        print(rows[-1], flush=True)
    lines += [
        "### A known-better variant read daily (14 reads) by the always-valid test",
        "",
        "Click rates x (1 + lift); the experiment is planned for `planned` (tau = its CTR difference, "
        "maximum sample = `max_users` for the target power there). Fixed-horizon n = the Welch "
        "test's n for the same power at the planned effect, its power measured at that n. "
        "Goal: mean users at stop <= 0.7 x fixed n, power at the maximum >= 0.8.",
        "",
        "| true lift | planned lift | target power | max users/arm | sequential power | mean users/arm at stop | fixed-horizon n/arm | fixed-horizon power | stop / fixed n |",
        "|---:|---:|---:|---:|---|---:|---:|---|---:|",
        *rows,
        "",
    ]  # fmt: skip

    # 4. CUPED
    rows = []
    for lift in (0.0, 0.1):
        r = cuped_check(traffic, lift, runs=min(args.runs, 1000), users=2000, seed=5)
        rows.append(
            f"| {lift:+.0%} | {r['pre_in_correlation']:.2f} | {r['measured_variance_reduction']:.1%} | "
            f"{r['reported_variance_reduction']:.1%} | {ci(r['power_plain'])} | {ci(r['power_cuped'])} |"
        )
        print(rows[-1], flush=True)
    lines += [
        "### CUPED (pre-period CTR as covariate; goal: variance -30% at correlation ~0.6, FPR unchanged)",
        "",
        "Variance of the effect estimate across runs (2,000 users each); at lift 0 the rejection "
        "rate is the false-positive rate.",
        "",
        "| lift | pre/in correlation | variance reduction (across runs) | reported by the analysis | rejections, Welch | rejections, CUPED |",
        "|---:|---:|---:|---:|---|---|",
        *rows,
        "",
    ]  # fmt: skip

    # 5. Interleaving vs A/B
    ranked = rankers(data, population, k=10)
    rows = []
    for a, b in [("item_knn", "ease"), ("popularity", "ease")]:
        r = interleaving_vs_ab(population, (ranked[a], ranked[b]), traffic, users=20_000,
                               runs=200, seed=9)  # fmt: skip
        rows.append(
            f"| {a} vs {b} | {r['ctr_a']:.4f} / {r['ctr_b']:.4f} | {r['ab_users']:,} | "
            f"{r['interleaving_users']:,} | {ci(r['interleaving_power'])} | {r['ratio']:.1f}x |"
        )
        print(rows[-1], flush=True)
    lines += [
        "### Interleaving vs A/B on CTR, two rankers fitted on synthetic data (goal: >= 10x fewer users)",
        "",
        "Users for 80% power at alpha 0.05: A/B = Welch on per-user CTR, both arms together; "
        "interleaving = t-test on the per-user preference (team draft, every user sees both). "
        "Interleaving power measured over 200 experiments at its n.",
        "",
        "| rankers (a vs b) | CTR a / b | A/B users | interleaving users | interleaving power at its n | A/B / interleaving |",
        "|---|---|---:|---:|---|---:|",
        *rows,
        "",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}` ({time.perf_counter() - started:.0f} s)",
        "",
    ]  # fmt: skip
    path = HERE / "RESULTS.md"
    head = path.read_text().split(MARKER)[0].rstrip() + "\n\n" if path.exists() else ""
    path.write_text(head + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
