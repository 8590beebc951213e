"""Model selection on a music-sized catalogue: the time of ``nbrec leaderboard --models all``.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/accuracy/catalogue.py \\
        [--users 1900 --items 17600 --interactions 93000] [--time-budget SECONDS] \\
        [--repeat N] [--tuning-only]

Generates a synthetic catalogue with the shape of Last.fm's HetRec set (1.9k users, 17.6k
items, 93k events), then (1) runs ``nbrec leaderboard --models all --format json`` as a user
would, a real process, and times it; (2) measures EASE's tuning over eight ``l2`` values
(one eigendecomposition, validation users scored per value through ``ShiftScores`` and
``HeldOut``, as ``nbrec.evaluation.tuning.tune`` does) against
one EASE fit on the same sub-training split, side by side. The leaderboard runs with the
CLI's default ``--time-budget`` unless one is given. Prints a markdown block to append to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nbrec.constants import USER_COL
from nbrec.data import load_dataset
from nbrec.evaluation import prepare_split
from nbrec.evaluation.holdout import HeldOut
from nbrec.evaluation.tuning import CHUNKS, chunked_score
from nbrec.models import make_model
from nbrec.models.ease import EASE

L2_VALUES = [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0]


def ease_tuning_ratio(folder: Path, repeat: int = 1) -> dict:
    """Seconds of one EASE fit, of scoring the validation users, of the tuning session's
    factorisation and of the whole tuning (factorisation plus eight l2 values scored):
    each the median of ``repeat`` runs, fit and tuning alternating."""
    data_split = prepare_split(load_dataset(str(folder)))
    tuning = data_split.tuning()
    val_users = tuning.test[USER_COL].unique()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        model = make_model("ease", l2=400.0).fit(tuning.train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        model.recommend(val_users, k=10)
        score_s = time.perf_counter() - start
        start = time.perf_counter()
        session = EASE.tuning_session(tuning.train)
        factor_s = time.perf_counter() - start
        held_out = HeldOut(tuning.test, CHUNKS)  # as ``tune`` does: prepared once per study
        values = [chunked_score(session.model(l2=l2), held_out, 10, "ndcg") for l2 in L2_VALUES]
        runs.append((fit_s, score_s, factor_s, time.perf_counter() - start))
    fit_s, score_s, factor_s, tune_s = np.median(np.array(runs), axis=0).tolist()
    direct = chunked_score(make_model("ease", l2=400.0).fit(tuning.train), tuning.test, 10, "ndcg")
    return {"items": len(model.item_ids_), "users": len(model.user_ids_), "fit_s": fit_s,
            "score_s": score_s, "factor_s": factor_s, "tune_s": tune_s, "repeat": repeat,
            "ratios": [round(r[3] / r[0], 2) for r in runs],
            "best_l2": L2_VALUES[int(np.argmax(values))], "agree": abs(values[3] - direct)}  # fmt: skip


def ratio_line(ratio: dict, args) -> str:
    return (f"- EASE on the sub-training split ({ratio['items']:,} items x {ratio['users']:,} "
            f"users; --users {args.users} --items {args.items} --interactions "
            f"{args.interactions}; load {os.getloadavg()}): one fit {ratio['fit_s']:.2f} s "
            f"(+ scoring the validation users {ratio['score_s']:.2f} s); tuning over eight l2 "
            f"values {ratio['tune_s']:.2f} s (eigendecomposition {ratio['factor_s']:.2f} s) = "
            f"**{ratio['tune_s'] / ratio['fit_s']:.2f}x one fit**, "
            f"{ratio['tune_s'] / (ratio['fit_s'] + ratio['score_s']):.2f}x one fit-and-score; "
            f"(median of {ratio['repeat']}; each run: {ratio['ratios']}); "
            f"best l2 {ratio['best_l2']}; session vs direct fit at l2=400 differ by "
            f"{ratio['agree']:.1e} NDCG")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1900)
    parser.add_argument("--items", type=int, default=17600)
    parser.add_argument("--interactions", type=int, default=93000)
    parser.add_argument("--time-budget", type=float, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="EASE timings: median of N")
    parser.add_argument("--tuning-only", action="store_true",
                        help="only (2): EASE's tuning against one fit, no leaderboard")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "catalogue"
        subprocess.run([sys.executable, "-m", "nbrec", "data", "generate", "--users",
                        str(args.users), "--items", str(args.items), "--interactions",
                        str(args.interactions), "--out", str(folder)], check=True)  # fmt: skip
        ratio = ease_tuning_ratio(folder, args.repeat)
        print(f"ease tuning: {json.dumps(ratio)}", file=sys.stderr, flush=True)
        if args.tuning_only:
            print(ratio_line(ratio, args))
            return
        cmd = [sys.executable, "-m", "nbrec", "leaderboard", "--dataset", str(folder),
               "--models", "all", "--format", "json"]  # fmt: skip
        if args.time_budget:
            cmd += ["--time-budget", str(args.time_budget)]
        load = os.getloadavg()
        start = time.perf_counter()
        # progress lines (stderr) pass through, so a run stopped early still shows them
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        wall = time.perf_counter() - start
    rows = json.loads(done.stdout)
    shown = " ".join(cmd[3:]).replace(str(folder), "<catalogue>")
    print(f"### Catalogue of {ratio['items']:,} items x {ratio['users']:,} users (synthetic, "
          f"Last.fm shape: --users {args.users} --items {args.items} --interactions "
          f"{args.interactions})\n")  # fmt: skip
    print(f"- `nbrec {shown}`: **{wall:.0f} s** wall (load before {load}, after "
          f"{os.getloadavg()}); champion by validation: "
          f"{max(rows, key=lambda r: r['validation_ndcg@10'])['model']}")  # fmt: skip
    print("- per model (fit s / tuning s / trials / test ndcg@10): " + "; ".join(
        f"{r['model']} {r['fit_seconds']:.1f}/{r['tuning_seconds']:.1f}/{r['trials']}/"
        f"{r['ndcg@10']:.4f}" for r in rows))  # fmt: skip
    skipped = rows[0]["protocol"].get("skipped", {})
    print(f"- skipped (time budget {rows[0]['protocol'].get('time_budget')} s): " + (
        "; ".join(f"{name}: {why}" for name, why in skipped.items()) or "none"))  # fmt: skip
    print(ratio_line(ratio, args))


if __name__ == "__main__":
    main()
