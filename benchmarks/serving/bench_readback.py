"""Read-back of a published version: batched vs one call per user.

    .venv/bin/python benchmarks/serving/bench_readback.py [--users 100000] [--top-n 100]

What the training pipeline does after publishing (``nbrec.pipeline.lifecycle.published_recs``):
read every user's top-10 back to validate what the store will serve, with one batched
``user_recs_top_k`` (decoded into the frame in vectorised steps); also ``user_recs_many`` (every
list as Python lists) and one ``user_recs`` call per user (timed on a sample). One redis-server
and one three-master Redis Cluster, started here; both read the same version in the same run.
Also times the publish itself (pipelined writes) and, in process, the request path's decode of
one stored list against the JSON it replaced. Prints a Markdown table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from nbrec.store import VersionTables, open_store
from nbrec.store.ranked import ItemTable, RankedTable

ROOT = Path(__file__).resolve().parents[2]


def version_tables(users: int, top_n: int, items: int = 5_000) -> VersionTables:
    """Random top-N arrays, as scoring hands them to publish."""
    rng = np.random.default_rng(42)
    codes = rng.integers(0, items, (users, top_n), dtype=np.int32)
    scores = -np.sort(-rng.random((users, top_n), dtype=np.float32), axis=1)
    table = ItemTable([f"i{c:05d}" for c in range(items)])
    recs = RankedTable([f"u{n:07d}" for n in range(users)], table, codes, scores)
    popular = ([f"i{c:05d}" for c in range(top_n)], [float(top_n - c) for c in range(top_n)])
    return VersionTables(info={"model": "bench"}, user_recs=recs, popular=popular)


def decode_cost(tables: VersionTables, n: int = 50_000) -> dict:
    """Microseconds to decode one stored list: the compact bytes vs the JSON they replaced."""
    recs = tables.user_recs
    user = next(iter(recs))
    raw = dict(recs.encoded(order=[0]))[user]
    as_json = orjson.dumps(recs[user])
    out = {}
    for name, func, arg in (("binary", recs.items.decode, raw), ("json", orjson.loads, as_json)):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(n):
                func(arg)
            best = min(best, (time.perf_counter() - start) / n * 1e6)
        out[f"{name}_us"] = best
    out["binary_bytes"], out["json_bytes"] = len(raw), len(as_json)
    return out


def timed(func, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def bench(url: str, tables: VersionTables, per_user_sample: int) -> dict:
    store = open_store(url)
    users = list(tables.user_recs)
    publish_s, _ = timed(store.write_version, "bench", tables)
    frame_s, frame = timed(store.user_recs_top_k, "bench", users, 10)
    expected = tables.user_recs.top_k_frame(10)
    assert frame.equals(expected), "the read-back frame differs from what was published"
    batched_s, found = timed(store.user_recs_many, "bench", users)
    wrong = [u for u, f in zip(users, found, strict=True) if f != tables.user_recs[u]]
    assert not wrong, f"{len(wrong)} users read back wrong, e.g. {wrong[0]}"
    # One call per user, on a sample (the full 100k takes minutes), scaled to all users.
    sample = users[:: max(1, len(users) // per_user_sample)][:per_user_sample]
    one_s, _ = timed(lambda: [store.user_recs("bench", u) for u in sample])
    store.close()
    per_user_s = one_s / len(sample) * len(users)
    return {"publish_s": publish_s, "frame_s": frame_s, "batched_s": batched_s,
            "per_user_s": per_user_s, "sample": len(sample),
            "speedup_frame": per_user_s / frame_s, "speedup": per_user_s / batched_s}  # fmt: skip


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
    decode = decode_cost(tables)
    print(f"\n{args.users:,} users, top-{args.top_n}; load {load:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end\n")  # fmt: skip
    print(
        "| store | publish s | read-back top-10 frame, batched s | lists, batched s | "
        "one call per user s | speedup frame / lists |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['publish_s']:.1f} | {r['frame_s']:.2f} | {r['batched_s']:.2f} | "
              f"{r['per_user_s']:.1f} (timed on {r['sample']:,} users) | "
              f"{r['speedup_frame']:.0f}x / {r['speedup']:.0f}x |")  # fmt: skip
    print(f"\nDecode of one top-{args.top_n} list in process (best of 3 x 50,000): "
          f"{decode['binary_us']:.2f} us from {decode['binary_bytes']} bytes (codes + float32) "
          f"vs {decode['json_us']:.2f} us from {decode['json_bytes']} bytes of JSON")  # fmt: skip


if __name__ == "__main__":
    main()
