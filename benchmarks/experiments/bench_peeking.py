"""Experiments you may peek at: sequential tests, CUPED, delta method and interleaving, measured.

    .venv/bin/python benchmarks/experiments/bench_peeking.py [--runs 1000] [--seeds 5] [--full-runs 200] [--sections 12345]

On heavy-tailed, heterogeneous traffic (``Traffic``: Zipf(1.5) requests per user capped at
200, Beta(0.5, 2) click rates), all vectorised over runs through the estimators the analysis
uses:

1. A/A, ``--runs`` experiments x 2,000 users, 14 daily peeks: false-positive rate of the
   always-valid test and of a fixed-horizon test read daily, and of each fixed-horizon p-value
   read once; repeated over ``--seeds`` seeds (the tests use fixed seeds).
2. A/A through the full ``analyze`` (RR-log frames from the simulator with the same traffic),
   ``--full-runs`` experiments: Welch, delta-method and always-valid p-values.
3. A known-better variant under the stop rule (group-sequential, ``analyze``'s read-out) and
   the mSPRT: power at the maximum sample and mean users at stopping vs the fixed-horizon n at
   the same power, at 0.5x, 1x and 1.5x the planned effect, power 0.8 and 0.9.
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
from nbrec.experiments.group_sequential import operating_characteristics
from nbrec.experiments.simulator import Population
from nbrec.experiments.traffic import Traffic
from nbrec.experiments.trust import (
    aa_peeking,
    aa_runs,
    cuped_check,
    interleaving_vs_ab,
    rate,
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


def previous_sections() -> dict[int, str]:
    """Sections 1-5 of the RESULTS.md written before (kept when not rerun)."""
    path = HERE / "RESULTS.md"
    text = path.read_text().split(MARKER)[-1] if path.exists() else ""
    chunks = ["### " + c for c in text.split("\n### ")[1:]]
    chunks = [c.split("\n- command:")[0].rstrip() + "\n" for c in chunks]
    return {i + 1: c for i, c in enumerate(chunks[:5])} | {
        i: "(not run yet)\n" for i in range(len(chunks) + 1, 6)
    }


def section3(traffic: Traffic, runs: int) -> str:
    """A known-better variant: stop rule vs fixed horizon at the same power, and the mSPRT."""
    started = time.perf_counter()
    rows = []
    for power in (0.8, 0.9):
        for lift in (0.05, 0.10, 0.15):
            r = sequential_power(traffic, lift, runs=min(runs, 500), planned_lift=0.10, power=power,
                                 seed=int(lift * 100 + power * 10), msprt=lift == 0.10)  # fmt: skip
            oc = operating_characteristics(power=power)[f"{lift / 0.10:g}x"]
            rows.append(
                f"| {lift / 0.10:g}x ({lift:+.0%}) | {power:.1f} | {r['max_users_per_arm']:,} | "
                f"{ci(r['sequential_power'])} | {oc['rejects']:.3f} | {r['mean_users_at_stop']:,.0f} | "
                f"{r['fixed_users_per_arm']:,} | {ci(r['fixed_power'])} | **{r['users_ratio']:.2f}** | "
                f"{oc['expected_over_fixed']:.2f} |"
            )
            print(rows[-1], flush=True)
            if "msprt" in r:
                m = r["msprt"]
                rows.append(
                    f"| mSPRT at {lift / 0.10:g}x | {power:.1f} | {m['max_users_per_arm']:,} | "
                    f"{ci(m['power'])} | | {m['mean_users_at_stop']:,.0f} | {r['fixed_users_per_arm']:,} | "
                    f"| {m['users_ratio']:.2f} | |"
                )
                print(rows[-1], flush=True)
    return "\n".join([
        "### A known-better variant read daily (14 reads) by the stop rule (goal: users at stop <= 0.7 x fixed n, power >= 0.8)",
        "",
        "Click rates x (1 + lift); every experiment is planned for +10% (the MDE, 1x) at the target "
        "power: the group-sequential read-out of `analyze` (its maximum sample from the sd it "
        "estimates each day; users arrive over 14 days, 3% more than the maximum). Fixed n = "
        "Welch's n for the same power at the planned effect, its power measured at that n. "
        f"Simulated: {min(runs, 500)} experiments per row (Wilson 95% intervals); exact: the "
        "numerical operating characteristics of the design for 14 equally spaced reads "
        "(`group_sequential.operating_characteristics`). mSPRT rows: tau = the planned difference, "
        "its own maximum sample for the same power.",
        "",
        "| true effect | target power | max users/arm | power, simulated | power, exact | mean users/arm at stop | fixed n/arm | fixed-horizon power | stop / fixed n, simulated | stop / fixed n, exact |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|",
        *rows,
        "",
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. + seeds - 1")
    parser.add_argument("--full-runs", type=int, default=200)
    parser.add_argument("--sections", default="12345", help="which sections to run (others kept)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    traffic = Traffic()
    lines = [MARKER, "", "## Peeking, sequential tests, CUPED, delta method, interleaving", "",
             f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}; load average (1 min) at "
             f"start: {load:.1f} (shared machine)", ""]  # fmt: skip

    # 1. A/A with daily peeks, over several seeds
    old = previous_sections()
    if "1" in args.sections:
        rows, hits = [], {"sequential": 0, "msprt": 0, "naive": 0}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            aa = aa_peeking(traffic, args.runs, users=2000, peeks=14, seed=seed)
            fixed = aa["fixed_horizon"]
            rows.append(f"| {seed} | {ci(aa['sequential'])} | {ci(aa['msprt'])} | {ci(aa['naive'])} | {ci(fixed['welch'])} | "
                        f"{ci(fixed['ratio_delta'])} | {ci(fixed['cuped'])} | {ci(fixed['request_z_test (dropped)'])} |")  # fmt: skip
            print(rows[-1], flush=True)
            hits = {k: v + round(aa[k]["rate"] * args.runs) for k, v in hits.items()}
        pooled = {k: rate(np.arange(args.runs * args.seeds) < v) for k, v in hits.items()}
        rows.append(f"| all {args.seeds} seeds ({args.runs * args.seeds:,} runs) | **{ci(pooled['sequential'])}** | "
                    f"{ci(pooled['msprt'])} | {ci(pooled['naive'])} | | | | |")  # fmt: skip
        lines += [
            f"### A/A: {args.runs} experiments x 2,000 users, 14 daily peeks, alpha 0.05 (goal: sequential <= 0.05)",
            "",
            "False-positive rate with its Wilson 95% interval. Sequential = the experiment's stop rule, the "
            "group-sequential read-out of `analyze` (Lan-DeMets spending alpha t^1.5, maximum sample "
            f"{aa['max_users_per_arm']:,.0f} users/arm planned at the 14th read, MDE {aa['mde']:.4f}) read "
            "daily; mSPRT = always-valid p (tau = the same MDE) read daily; naive = fixed-horizon Welch read "
            "daily, stopping at the first p < 0.05; the other columns read once at the end.",
            "",
            "| seed | sequential (group-sequential), daily | mSPRT, daily | naive fixed-horizon, daily | Welch per-user CTR | request CTR, delta method | CUPED | request z-test (dropped) |",
            "|---:|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]  # fmt: skip
    else:
        lines.append(old[1])

    # 2. The full analyze on RR-log frames with the same traffic
    data = generate(users=2_000, items=300, interactions=20_000, seed=1)
    population = Population.from_dataset(data)
    if "2" in args.sections:
        full = aa_runs(
            population, args.full_runs, users=1000, holdout=0.05, seed=77, traffic=traffic
        )
        lines += [
            f"### A/A through `analyze` ({args.full_runs} runs, 1,000 users, Zipf/Beta traffic, 5% holdout)",
            "",
            "| p-value | false-positive rate |",
            "|---|---:|",
            f"| Welch per-user CTR (`p_value`) | {np.mean(full['p_value'] < 0.05):.3f} |",
            f"| request CTR, delta method (`ratio_p_value`) | {np.mean(full['ratio_p_value'] < 0.05):.3f} |",
            f"| stop rule (group-sequential crossing, `sequential.direction`, one read) | {np.mean(full['sequential_crossed']):.3f} |",
            f"| always-valid mSPRT (`sequential.always_valid.p_value`, one read) | {np.mean(full['msprt_p_value'] < 0.05):.3f} |",
            f"| SRM false alarms at 0.001 | {full['srm'].mean():.3f} |",
            "",
        ]  # fmt: skip
        print(lines[-6:], flush=True)
    else:
        lines.append(old[2])

    # 3. Known-better variant under the stop rule (and the mSPRT at the planned effect)
    if "3" in args.sections:
        lines.append(section3(traffic, args.runs))
    else:
        lines.append(old[3])

    # 4. CUPED
    if "4" in args.sections:
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
    else:
        lines.append(old[4])

    # 5. Interleaving vs A/B
    if "5" in args.sections:
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
        ]  # fmt: skip
    else:
        lines.append(old[5])
    lines += [
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}` ({time.perf_counter() - started:.0f} s); "
        "sections not run keep their figures (and dates) from an earlier run",
        "",
    ]

    path = HERE / "RESULTS.md"
    head = path.read_text().split(MARKER)[0].rstrip() + "\n\n" if path.exists() else ""
    path.write_text(head + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
