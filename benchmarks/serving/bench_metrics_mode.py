"""What sharing the metrics across workers costs a request: in-memory vs multiprocess values.

    .venv/bin/python benchmarks/serving/bench_metrics_mode.py [--n 200000]

Times the metric updates one /recommend makes (request counter and latency histogram,
recommendations counter, store-call histogram) with nbrec's ``ServingMetrics`` in memory (one
worker) and in prometheus_client's multiprocess files (``NBREC_WORKERS`` > 1), each in its own
process (prometheus_client picks its value class when imported), plus one scrape's rendering.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def measure(n: int, across_workers: bool) -> tuple[float, float]:
    from nbrec.serving.prometheus import ServingMetrics

    m = ServingMetrics(process=False, across_workers=across_workers)
    requests = m.child(m.requests, "/recommend", "200")
    duration = m.child(m.request_duration, "/recommend")
    served = m.child(m.recommendations, "v1", "none", "none")
    store = m.child(m.store_duration, "redis", "user_view")
    start = time.perf_counter()
    for _ in range(n):
        requests.inc()
        duration.observe(0.0012)
        served.inc()
        store.observe(0.0003)
    per_request = (time.perf_counter() - start) / n
    start = time.perf_counter()
    m.render()
    return per_request, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["memory", "files"])
    args = parser.parse_args()
    if args.child:
        per_request, render = measure(args.n, args.child == "files")
        print(f"{per_request * 1e6:.2f} {render * 1e3:.2f}")
        return
    runs: dict[str, list[list[float]]] = {"memory": [], "files": []}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):  # interleaved; the fastest run of each (least disturbed)
        for mode in runs:
            with tempfile.TemporaryDirectory() as folder:
                env = {**os.environ}
                if mode == "files":
                    env["PROMETHEUS_MULTIPROC_DIR"] = folder
                out = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--child", mode],
                                     env=env, capture_output=True, text=True, check=True).stdout  # fmt: skip
            runs[mode].append([float(x) for x in out.split()])
    rows = {mode: min(found) for mode, found in runs.items()}
    print(f"load {load:.2f}; {args.n:,} requests' metric updates per run, {args.rounds} runs each")
    print("| metric values | µs per request | one scrape's rendering ms |")
    print("|---|---:|---:|")
    for mode, label in (
        ("memory", "in memory (1 worker)"),
        ("files", "multiprocess files (workers > 1)"),
    ):
        print(f"| {label} | {rows[mode][0]:.2f} | {rows[mode][1]:.2f} |")


if __name__ == "__main__":
    main()
