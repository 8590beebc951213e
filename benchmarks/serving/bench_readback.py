"""Read-back of a published version: batched (``user_recs_many``) vs one call per user.

    .venv/bin/python benchmarks/serving/bench_readback.py [--users 100000] [--top-n 100]

What the training pipeline does after publishing (``nbrec.pipeline.lifecycle.published_recs``):
read every user's list back to validate what the store will serve. One redis-server and one
three-master Redis Cluster, started here; both read the same version in the same run. Also
times the publish itself (pipelined writes). Prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nbrec.store import VersionTables, open_store

ROOT = Path(__file__).resolve().parents[2]


def version_tables(users: int, top_n: int, items: int = 5_000) -> VersionTables:
    rng = np.random.default_rng(42)
    recs = {}
    for n in range(users):
        codes = rng.choice(items, size=top_n, replace=False)
        scores = sorted(rng.random(top_n).tolist(), reverse=True)
        recs[f"u{n:07d}"] = ([f"i{c:05d}" for c in codes], scores)
    popular = ([f"i{c:05d}" for c in range(top_n)], [float(top_n - c) for c in range(top_n)])
    return VersionTables(info={"model": "bench"}, user_recs=recs, popular=popular)


def timed(func, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def bench(url: str, tables: VersionTables, per_user_sample: int) -> dict:
    store = open_store(url)
    users = list(tables.user_recs)
    publish_s, _ = timed(store.write_version, "bench", tables)
    batched_s, found = timed(store.user_recs_many, "bench", users)
    wrong = [u for u, f in zip(users, found, strict=True) if f != tables.user_recs[u]]
    assert not wrong, f"{len(wrong)} users read back wrong, e.g. {wrong[0]}"
    # One call per user, on a sample (the full 100k takes minutes), scaled to all users.
    sample = users[:: max(1, len(users) // per_user_sample)][:per_user_sample]
    one_s, _ = timed(lambda: [store.user_recs("bench", u) for u in sample])
    store.close()
    per_user_s = one_s / len(sample) * len(users)
    return {"publish_s": publish_s, "batched_s": batched_s, "per_user_s": per_user_s,
            "sample": len(sample), "speedup": per_user_s / batched_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--per-user-sample", type=int, default=20_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.store.redis_cluster import redis_cluster
    from tests.store.redis_server import redis_server

    tables = version_tables(args.users, args.top_n)
    work = Path(tempfile.mkdtemp(prefix="nbrec-readback-"))
    rows = []
    load = os.getloadavg()[0]
    with redis_server(work) as single, redis_cluster(work / "cluster", masters=3) as cluster:
        for name, url in (
            ("Redis (one server)", single),
            ("Redis Cluster (3 masters)", cluster.url),
        ):
            result = bench(url, tables, args.per_user_sample)
            rows.append((name, result))
            print(name, result, flush=True)
    print(f"\n{args.users:,} users, top-{args.top_n}; load {load:.2f} at start\n")
    print("| store | publish s | read-back batched s | one call per user s | speedup |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['publish_s']:.1f} | {r['batched_s']:.2f} | {r['per_user_s']:.1f} "
              f"(timed on {r['sample']:,} users) | {r['speedup']:.0f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
