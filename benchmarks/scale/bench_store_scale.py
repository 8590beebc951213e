"""The feature store and the service at a million users, from synthetic top-N arrays.

    .venv/bin/python benchmarks/scale/bench_store_scale.py [--users 1000000] [--small 10000]

No training: each user's top-100 is random (codes into a catalogue of ``--items`` items, scores
sorted), the arrays scoring hands to publish (``nbrec.store.ranked.RankedTable``). Measured in
one run, on one redis-server and SQLite files started/created here:

1. publish (``write_version`` + ``set_live``: what ``publish`` does once scoring is done) of the
   large and the small version into SQLite and into Redis; bytes on disk and Redis memory
   per user;
2. read-back of the large version: the pipeline's batched ``user_recs_top_k`` (k=10) and the
   ``user_recs_many`` lists, against one ``user_recs`` call per user (timed on a sample);
3. the service (``nbrec serve``, one worker) on each store and each size: start-up time to the
   first answer, resident memory (whole process tree) after start-up and after load, and on the
   large store peak req/s and p50/p99 at half of that peak (wrk, users cycling over
   ``--wrk-users`` distinct users, so answers come from the store, not the answer cache).

Prints a Markdown block for benchmarks/scale/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "serving"))
sys.path.insert(0, str(ROOT))

from bench_serving import (  # noqa: E402  (the serving harness)
    BIN,
    Server,
    ensure_wrk,
    free_port,
    machine,
    run_wrk,
)

from nbrec.store import VersionTables, open_store  # noqa: E402
from nbrec.store.ranked import ItemTable, RankedTable  # noqa: E402

TOP_N = 100


def user_id(n: int) -> str:
    return f"u{n:07d}"


def synthetic_version(users: int, items: int, seed: int = 7) -> VersionTables:
    """A version as publish writes it: top-100 arrays, popular list, similar items, metadata."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, items, (users, TOP_N), dtype=np.int32)
    scores = -np.sort(-rng.random((users, TOP_N), dtype=np.float32), axis=1)
    table = ItemTable([f"i{n:06d}" for n in range(items)])
    ids = table.ids.tolist()
    ranked = RankedTable([user_id(n) for n in range(users)], table, codes, scores)
    sim = rng.integers(0, items, (items, 20))
    similar = {ids[n]: ([ids[c] for c in sim[n]], [1.0 / (r + 1) for r in range(20)])
               for n in range(items)}  # fmt: skip
    now = time.time()
    info = {"model": "synthetic", "version": "bench", "published_at": now, "n_users": users,
            "n_items": items, "top_n": TOP_N, "has_embeddings": False,
            "score_reference": scores[:2000, :10].ravel().round(6).tolist()}  # fmt: skip
    return VersionTables(
        info=info, user_recs=ranked, popular=(ids[:TOP_N], list(range(TOP_N, 0, -1))),
        similar=similar, item_meta={i: {"genre": f"g{n % 20}"} for n, i in enumerate(ids)},
    )  # fmt: skip


def timed(func, *args):
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def publish(url: str, tables: VersionTables) -> float:
    store = open_store(url)
    seconds, _ = timed(lambda: (store.write_version("bench", tables), store.set_live("bench")))
    store.close()
    return seconds


def read_back(url: str, users: list[str], sample: int) -> dict:
    store = open_store(url)
    frame_s, frame = timed(store.user_recs_top_k, "bench", users, 10)
    assert len(frame) == 10 * len(users), len(frame)
    lists_s, lists = timed(store.user_recs_many, "bench", users)
    assert all(found is not None for found in lists)
    del lists
    some = users[:: max(1, len(users) // sample)][:sample]
    one_s, _ = timed(lambda: [store.user_recs("bench", u) for u in some])
    store.close()
    per_user_s = one_s / len(some) * len(users)
    return {"frame_s": frame_s, "lists_s": lists_s, "per_user_s": per_user_s,
            "sample": len(some)}  # fmt: skip


def tree_rss_mib(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return float("nan")
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total / 2**20


def serve(name: str, url: str, env: dict, wrk: str, users: list[str], args, load: bool) -> dict:
    port = free_port()
    cmd = [str(BIN / "nbrec"), "serve", "--port", str(port)]
    start = time.perf_counter()
    server = Server(name, cmd, {**env, "NBREC_STORE_URL": url}, ROOT, "/recommend", port)
    out = {"startup_s": time.perf_counter() - start}
    try:
        time.sleep(1.0)  # let the workers settle before reading their memory
        out["rss_start_mib"] = tree_rss_mib(server.proc.pid)
        run_wrk(wrk, server.url, users[:2000], 2, args.connections)  # warm up
        if load:
            peak = run_wrk(wrk, server.url, users, args.duration, args.connections,
                           server_pid=server.proc.pid)  # fmt: skip
            delay = 1000.0 * args.connections / (peak["rps"] / 2)
            half = run_wrk(wrk, server.url, users, args.duration, args.connections, delay,
                           server_pid=server.proc.pid)  # fmt: skip
            out.update(peak=peak, half=half)
        out["rss_after_mib"] = tree_rss_mib(server.proc.pid)
    finally:
        server.stop()
    print(name, out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="users of the small store")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--readback-users", type=int, default=100_000)
    parser.add_argument("--per-user-sample", type=int, default=20_000)
    parser.add_argument("--wrk-users", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--load-small", action="store_true", help="wrk on the small store too")
    args = parser.parse_args()
    from tests.store.redis_server import redis_server

    wrk = ensure_wrk()
    work = args.work or Path(tempfile.mkdtemp(prefix="nbrec-store-scale-"))
    env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
           "NBREC_VAR_DIR": str(work / "var")}  # fmt: skip
    print(f"machine: {machine()}\nload at start: {os.getloadavg()}", flush=True)
    started = datetime.now(UTC)
    res: dict = {"args": vars(args), "load_start": os.getloadavg()}
    build_s, large = timed(synthetic_version, args.users, args.items)
    small = synthetic_version(args.small, args.items, seed=8)
    res["build_s"] = build_s
    print(f"built {args.users:,} users in {build_s:.1f} s", flush=True)
    with redis_server(work) as redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        urls = {"sqlite": {size: f"sqlite:///{work / f'{size}.db'}" for size in ("large", "small")},
                "redis": {"large": redis_url, "small": redis_url.rsplit("/", 1)[0] + "/1"}}  # fmt: skip
        for backend in ("sqlite", "redis"):
            before = client.info("memory")["used_memory"]
            res[f"publish_{backend}_s"] = publish(urls[backend]["large"], large)
            if backend == "redis":
                used = client.info("memory")["used_memory"] - before
                res["redis_bytes_per_user"] = used / args.users
            else:
                db = work / "large.db"
                size = sum(p.stat().st_size for p in work.glob("large.db*"))
                res["sqlite_bytes_per_user"] = size / args.users
                res["sqlite_file"] = str(db)
            publish(urls[backend]["small"], small)
            print(backend, {k: v for k, v in res.items() if backend in k}, flush=True)
        some = [user_id(n) for n in range(0, args.users, max(1, args.users // args.readback_users))]
        for backend in ("redis", "sqlite"):
            res[f"readback_{backend}"] = read_back(urls[backend]["large"], some[: args.readback_users],
                                                   args.per_user_sample)  # fmt: skip
            print(backend, res[f"readback_{backend}"], flush=True)
        del large, small
        rng = np.random.default_rng(1)
        wrk_users = [user_id(int(n)) for n in rng.choice(args.users, args.wrk_users, replace=False)]
        small_users = [user_id(n) for n in range(min(args.small, args.wrk_users))]
        res["load_before_service"] = os.getloadavg()
        for backend in ("sqlite", "redis"):
            res[f"service_{backend}_small"] = serve(f"{backend} {args.small:,} users",
                                                    urls[backend]["small"], env, wrk, small_users,
                                                    args, load=args.load_small)  # fmt: skip
            res[f"service_{backend}_large"] = serve(f"{backend} {args.users:,} users",
                                                    urls[backend]["large"], env, wrk, wrk_users,
                                                    args, load=True)  # fmt: skip
        client.close()
    res["load_end"] = os.getloadavg()
    res["date"] = f"{started:%Y-%m-%d %H:%M}-{datetime.now(UTC):%H:%M} UTC"
    report(res, args)


def report(res: dict, args) -> None:
    n = args.users
    print(f"\n- date: {res['date']}; load (1/5/15 min) at start {fmt_load(res['load_start'])}, "
          f"before the services {fmt_load(res['load_before_service'])}, at end {fmt_load(res['load_end'])}")  # fmt: skip
    print(
        f"- {n:,} users x top-{TOP_N} over {args.items:,} items (arrays built in {res['build_s']:.0f} s)\n"
    )
    print(
        f"| store | publish {n:,} users | bytes per user | read-back batched top-10 frame | "
        "batched lists | one call per user | speedup frame / lists |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for backend, label, per in (("sqlite", "SQLite", "sqlite_bytes_per_user"),
                                ("redis", "Redis", "redis_bytes_per_user")):  # fmt: skip
        rb = res[f"readback_{backend}"]
        print(f"| {label} | {res[f'publish_{backend}_s']:.1f} s | {res[per]:,.0f} | "
              f"{rb['frame_s']:.2f} s | {rb['lists_s']:.2f} s | {rb['per_user_s']:.1f} s "
              f"(timed on {rb['sample']:,}) | {rb['per_user_s'] / rb['frame_s']:.0f}x / "
              f"{rb['per_user_s'] / rb['lists_s']:.0f}x |")  # fmt: skip
    print(f"\nRead-back over {args.readback_users:,} users of the large version.\n")
    print(
        "| service | start-up s | RSS after start MiB | RSS after load MiB | peak req/s | "
        "p50 / p99 ms at peak | req/s at half peak | p50 / p99 ms at half peak | CPU us/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for backend in ("sqlite", "redis"):
        for size, users in (("small", args.small), ("large", n)):
            s = res[f"service_{backend}_{size}"]
            row = f"| {backend}, {users:,} users | {s['startup_s']:.1f} | {s['rss_start_mib']:.0f} | {s['rss_after_mib']:.0f} |"
            if "peak" in s:
                p, h = s["peak"], s["half"]
                row += (f" {p['rps']:.0f} | {p['p50']:.2f} / {p['p99']:.2f} | {h['rps']:.0f} | "
                        f"{h['p50']:.2f} / {h['p99']:.2f} | {p['cpu_us']:.0f} |")  # fmt: skip
            else:
                row += " | | | | |"
            print(row)


def fmt_load(load) -> str:
    return "/".join(f"{x:.1f}" for x in load)


if __name__ == "__main__":
    main()
