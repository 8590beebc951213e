"""Scale-out benchmark: 1 vs 2 workers, Redis Cluster vs one Redis, a master killed under load.

    .venv/bin/python benchmarks/serving/bench_scaleout.py [--duration 8] [--rounds 2]

Same harness as ``bench_serving.py`` (wrk on loopback, server CPU per request from /proc), all
targets up at once and measured round by round, so other load on the shared machine hits them
alike. Targets: nbrec /recommend on one redis-server with 1 and 2 workers, and on a three-master
Redis Cluster (1 worker); peak req/s, CPU per request, and p50/p99 at half of each target's own
peak. Then a Redis Cluster with replicas: a master is SIGKILLed while wrk paces requests at half
peak, and wrk counts the non-2xx answers and socket errors. Prints Markdown for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_serving import (  # noqa: E402  (the harness next to this file)
    BIN,
    Server,
    ensure_wrk,
    free_port,
    machine,
    median_p99,
    median_run,
    publish_model,
    run_wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from nbrec.store.redis_keys import KeyLayout
    from tests.store.redis_cluster import redis_cluster
    from tests.store.redis_server import redis_server

    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="nbrec-scaleout-"))
    base_env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
                "NBREC_VAR_DIR": str(work / "var")}  # fmt: skip
    nbrec_cmd = [str(BIN / "nbrec"), "serve", "--port", "{port}"]
    print(f"machine: {machine()}\nload at start: {os.getloadavg()[0]:.2f}", flush=True)
    with redis_server(work) as single, redis_cluster(work / "cluster", masters=3) as cluster:
        users = publish_model(single)
        publish_model(cluster.url)
        targets = [
            ("1 worker, Redis", {"NBREC_STORE_URL": single, "NBREC_WORKERS": "1"}),
            ("2 workers, Redis", {"NBREC_STORE_URL": single, "NBREC_WORKERS": "2"}),
            ("1 worker, Redis Cluster", {"NBREC_STORE_URL": cluster.url, "NBREC_WORKERS": "1"}),
        ]
        servers = []
        try:
            for name, extra in targets:
                port = free_port()
                cmd = [c.replace("{port}", str(port)) for c in nbrec_cmd]
                servers.append(Server(name, cmd, {**base_env, **extra}, ROOT, "/recommend", port))
            for server in servers:
                run_wrk(wrk, server.url, users, 2, args.connections)  # warm up
            peaks = {s.name: [] for s in servers}
            for round_ in range(args.rounds):
                for server in servers:
                    result = run_wrk(wrk, server.url, users, args.duration, args.connections,
                                     server_pid=server.proc.pid)  # fmt: skip
                    peaks[server.name].append(result)
                    print(f"round {round_ + 1} {server.name:28s} {result}", flush=True)
            peak = {name: median_run(runs) for name, runs in peaks.items()}
            paced = {s.name: [] for s in servers}
            for _ in range(args.rounds):
                for server in servers:
                    delay = 1000.0 * args.connections / (peak[server.name]["rps"] / 2)
                    result = run_wrk(wrk, server.url, users, args.duration, args.connections,
                                     delay, server_pid=server.proc.pid)  # fmt: skip
                    paced[server.name].append(result)
                    print(f"half load {server.name:24s} {result}", flush=True)
        finally:
            for server in servers:
                server.stop()
    failover = measure_failover(wrk, work, base_env, nbrec_cmd, args, KeyLayout().live)
    report(args, peak, {n: median_p99(r) for n, r in paced.items()}, failover)


def measure_failover(wrk, work, base_env, nbrec_cmd, args, live_key) -> dict:
    """wrk at a fixed pace for 12 s against a cluster service; the live pointer's master is
    SIGKILLed 3 s in. Returns wrk's figures plus how long the cluster took to recover."""
    from tests.store.redis_cluster import redis_cluster

    with redis_cluster(work / "failover", masters=3, replicas=1) as cluster:
        users = publish_model(cluster.url)
        port = free_port()
        cmd = [c.replace("{port}", str(port)) for c in nbrec_cmd]
        server = Server("failover", cmd, {**base_env, "NBREC_STORE_URL": cluster.url}, ROOT,
                        "/recommend", port)  # fmt: skip
        healed: dict = {}
        try:
            run_wrk(wrk, server.url, users, 2, args.connections)
            node = cluster.node(cluster.masters()[0])
            slot = node.execute_command("CLUSTER KEYSLOT", live_key)
            victim = next(p for p in cluster.masters() if _serves(cluster, p, slot))

            def kill_later() -> None:
                time.sleep(3)
                start = time.monotonic()
                cluster.kill(victim)
                cluster.wait_healthy(masters=3, replicas=0, timeout=60)
                healed["seconds"] = time.monotonic() - start

            killer = threading.Thread(target=kill_later)
            killer.start()
            delay = 1000.0 * args.connections / 500  # 500 req/s in all
            result = run_wrk(wrk, server.url, users, 12, args.connections, delay,
                             server_pid=server.proc.pid)  # fmt: skip
            killer.join()
        finally:
            server.stop()
    return {**result, "failover_s": healed.get("seconds")}


def _serves(cluster, port: int, slot: int) -> bool:
    nodes = cluster.node(port).execute_command("CLUSTER NODES")
    mine = next(n for n in nodes.values() if "myself" in n["flags"])
    return any(int(lo) <= slot <= int(hi) for lo, hi in mine["slots"])


def report(args, peak: dict, half: dict, failover: dict) -> None:
    one, two = peak["1 worker, Redis"], peak["2 workers, Redis"]
    single, clustered = one, peak["1 worker, Redis Cluster"]
    print(f"\ncommand: .venv/bin/python benchmarks/serving/bench_scaleout.py --duration "
          f"{args.duration:g} --connections {args.connections} --rounds {args.rounds}\n")  # fmt: skip
    print(
        "| target | req/s | p50 ms | p99 ms | CPU µs/req | non-2xx | load | all runs req/s | p99 ms at half peak (req/s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    for name, r in peak.items():
        h = half[name]
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us']:.0f} | "
              f"{r['non2xx']} | {r['load']:.2f} | {r['all_rps']} | {h['p99']:.2f} ({h['rps']:,.0f}) |")  # fmt: skip
    print(f"\n2 workers / 1 worker: {two['rps'] / one['rps']:.2f}x req/s, CPU per request "
          f"{two['cpu_us'] / one['cpu_us']:.2f}x")  # fmt: skip
    print(f"Redis Cluster / one Redis: {clustered['rps'] / single['rps']:.2f}x req/s; p99 at half "
          f"peak {half['1 worker, Redis Cluster']['p99']:.2f} ms")  # fmt: skip
    print(f"failover: {failover['rps']:,.0f} req/s paced, non-2xx {failover['non2xx']}, socket "
          f"errors '{failover['socket_errors']}', p99 {failover['p99']:.2f} ms, cluster healthy "
          f"again {failover['failover_s']:.1f} s after the kill")  # fmt: skip


if __name__ == "__main__":
    main()
