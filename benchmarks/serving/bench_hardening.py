"""The request path before and after issue 17's input checks, side by side in one run.

Two ``nbrec serve`` processes on one SQLite store: this checkout's code and a baseline commit's
(extracted with ``git archive`` into a temporary folder), both with BentoML's HTTP metrics off
so only nbrec's request path differs, plus this checkout's default configuration. Runs
interleave round by round (bench_serving's helpers: wrk, CPU per request, median run).

    python benchmarks/serving/bench_hardening.py --baseline 25d7f30 --rounds 3 --duration 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_serving import (  # noqa: E402
    BIN,
    ROOT,
    Server,
    ensure_wrk,
    free_port,
    machine,
    median_run,
    publish_model,
    run_wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="nbrec-bench-hardening-"))
    base_src = work / "baseline"
    base_src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline],
                             capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive, check=True)
    store = f"sqlite:///{work / 'features.db'}"
    users = publish_model(store)
    env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
           "NBREC_VAR_DIR": str(work / "var"), "NBREC_STORE_URL": store}  # fmt: skip
    here_env = {**env, "PYTHONPATH": str(ROOT / "src")}
    base_env = {**env, "PYTHONPATH": str(base_src / "src")}
    nbrec = [str(BIN / "nbrec"), "serve", "--port", "{port}"]
    targets = [
        (f"baseline {args.baseline}, no BentoML metrics", {**base_env, "NBREC_BENTOML_METRICS": "false"}),
        ("this checkout, no BentoML metrics", {**here_env, "NBREC_BENTOML_METRICS": "false"}),
        (f"baseline {args.baseline}, its default (BentoML metrics on)", base_env),
        ("this checkout, its default (BentoML metrics off)", here_env),
    ]  # fmt: skip
    servers = []
    try:
        for name, target_env in targets:
            port = free_port()
            cmd = [c.replace("{port}", str(port)) for c in nbrec]
            servers.append(Server(name, cmd, target_env, work, "/recommend", port))
        for server in servers:
            run_wrk(wrk, server.url, users, 2, args.connections)  # warm up
        runs: dict[str, list[dict]] = {s.name: [] for s in servers}
        for round_ in range(args.rounds):
            for server in servers:
                result = run_wrk(wrk, server.url, users, args.duration, args.connections,
                                 server_pid=server.proc.pid)  # fmt: skip
                runs[server.name].append(result)
                print(f"round {round_ + 1} {server.name:55s} {result}", flush=True)
    finally:
        for server in servers:
            server.stop()
    print(f"\nmachine: {machine()}")
    first = median_run(runs[servers[0].name])
    print(
        "| target | req/s | ratio | p50 ms | p99 ms | CPU µs/req | CPU ratio | non-2xx | load | all runs req/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for server in servers:
        r = median_run(runs[server.name])
        print(f"| {server.name} | {r['rps']:,.0f} | {r['rps'] / first['rps']:.0%} | {r['p50']:.2f} "
              f"| {r['p99']:.2f} | {r['cpu_us']:.0f} | {first['cpu_us'] / r['cpu_us']:.0%} "
              f"| {r['non2xx']} | {r['load']:.2f} | {r['all_rps']} |")  # fmt: skip


if __name__ == "__main__":
    main()
