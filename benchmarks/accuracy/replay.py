"""Replay benchmark: Thompson sampling vs random on a uniformly random log built from ratings.

    NBREC_DATA_DIR=/work/shared/data .venv/bin/python benchmarks/accuracy/replay.py \\
        [--datasets movielens-100k,movielens-latest-small] [--events 200000]

(Li et al. 2011: a policy is credited only on the logged events where it picks the logged arm.)
Prints one markdown line per data set for RESULTS.md.
"""

from __future__ import annotations

import argparse

from nbrec.data import load_dataset
from nbrec.evaluation import replay as rp
from nbrec.models import bandits


def replay_line(name: str, events: int) -> str:
    dataset = load_dataset(name)
    log = rp.simulate_uniform_log(dataset.interactions, n_arms=50, n_events=events)
    _, _, results = rp.compare_policies(
        {"thompson": bandits.ThompsonSampling(), "random": bandits.RandomPolicy()}, log
    )
    t, r = results["thompson"].summary(), results["random"].summary()
    d = rp.compare_two(results["thompson"], results["random"])
    return (f"- {name}: replay (uniform log, {t['events']:,} events, 50 arms): Thompson CTR "
            f"{t['ctr']:.3f} [{t['ctr_low']:.3f}, {t['ctr_high']:.3f}] on {t['matched']} matched "
            f"events; random {r['ctr']:.3f} [{r['ctr_low']:.3f}, {r['ctr_high']:.3f}]; difference "
            f"{d['ctr_diff']:+.3f} [{d['diff_low']:+.3f}, {d['diff_high']:+.3f}], "
            f"p = {d['p_value']:.2g}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="movielens-100k,movielens-latest-small")
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    for name in args.datasets.split(","):
        print(replay_line(name, args.events), flush=True)


if __name__ == "__main__":
    main()
