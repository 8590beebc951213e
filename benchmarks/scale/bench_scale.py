"""Scale benchmark: the whole pipeline at three sizes, as a user runs it.

    python benchmarks/scale/bench_scale.py --size medium [--cap-gib 8] [--data DIR] [--record]
    python benchmarks/scale/bench_scale.py --size large --after-only RUN_DIR [--record]

For one size: ``nbrec data generate`` (seed 7; or ``--data DIR``, a folder it wrote), then
``nbrec train --dataset DIR --notebooks "" --model auto`` with its defaults (under ``prlimit
--as`` when ``--cap-gib`` is given: on a shared machine a runaway then gets MemoryError, not the
kernel's OOM killer; without it, the run as a user runs it), wall time per stage from the
flow's task runs and peak RSS (``/usr/bin/time``); then, in a child process, the after-training
figures: every user scored once (batch scoring throughput, users/s), and those same top-N
arrays published into a fresh SQLite file and a fresh redis-server (time, bytes per user on
disk / in Redis), as the training flow publishes its scored shards. ``--after-only RUN_DIR``
measures only that on a run folder kept with ``--keep``. Results: ``results/<size>.json``;
``--record`` rewrites RESULTS.md and the plot (``scale_record``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from scale_record import SIZES, exponent, keep, record  # noqa: E402
from scale_stages import stage_seconds, stage_seconds_db, stage_seconds_printed  # noqa: E402

__all__ = ["exponent", "stage_seconds", "stage_seconds_db", "stage_seconds_printed"]


def timed(cmd: list[str], env: dict, cap_bytes: int | None, log: Path) -> dict:
    """Run ``cmd`` (under ``prlimit --as`` when capped); wall seconds, peak RSS, exit code."""
    full = ["/usr/bin/time", "-f", "PEAK_KB %M"]
    if cap_bytes:
        full += ["prlimit", f"--as={cap_bytes}"]
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(full + cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    peak = re.findall(r"PEAK_KB (\d+)", log.read_text())
    return {"seconds": seconds, "peak_rss_gib": int(peak[-1]) / 2**20 if peak else None,
            "returncode": proc.returncode}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server():
    """A fresh redis-server on a free port (no persistence): (process, port)."""
    import redis

    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                               "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return server, client, port


def after_training(work: Path) -> dict:
    """In this (child) process, on the version the run registered: every user scored once
    (top-N, 2 threads: the training flow's scoring), then those arrays published into SQLite
    and into Redis. Reads NBREC_* from the environment the training run had."""
    import pandas as pd

    from nbrec.constants import TOP_N
    from nbrec.pipeline import model_store, scoring
    from nbrec.pipeline.publish import publish

    version = model_store.list_model_versions()[0].version
    model = model_store.load_model(version)
    items_file = work / "data" / "items.parquet"
    items = pd.read_parquet(items_file) if items_file.is_file() else None
    users, threads = len(model.user_ids_), 2
    out: dict = {"version": version, "model": model.name, "users": users, "depth": TOP_N,
                 "threads": threads}  # fmt: skip
    start = time.perf_counter()
    ranked = scoring.score_all(model, TOP_N, workers=threads)
    out["scoring_s"] = time.perf_counter() - start
    out["scoring_users_per_s"] = users / out["scoring_s"]

    sqlite_path = work / "after-publish.sqlite"
    for stale in work.glob("after-publish.sqlite*"):  # this step's own file of an earlier try
        stale.unlink()
    start = time.perf_counter()
    publish(model, "bench", f"sqlite:///{sqlite_path}", items, TOP_N, ranked=ranked)
    out["publish_sqlite_s"] = time.perf_counter() - start
    on_disk = sum(f.stat().st_size for f in work.glob("after-publish.sqlite*"))
    out["sqlite_bytes_per_user"] = on_disk / users

    server, client, port = redis_server()
    try:
        before = client.info("memory")["used_memory"]
        start = time.perf_counter()
        publish(model, "bench", f"redis://127.0.0.1:{port}/0", items, TOP_N, ranked=ranked)
        out["publish_redis_s"] = time.perf_counter() - start
        out["redis_bytes_per_user"] = (client.info("memory")["used_memory"] - before) / users
    finally:
        server.terminate()
        server.wait()
    for stale in work.glob("after-publish.sqlite*"):
        stale.unlink()
    return out


def measure_after(work: Path, env: dict, cap: int | None) -> dict:
    """``after_training`` in a child process (under the same cap as the run)."""
    log = work / "after.log"
    after = timed([sys.executable, __file__, "--after-training", str(work)], env, cap, log)
    found = re.findall(r"^AFTER (.*)$", log.read_text(), re.M)
    after.update(json.loads(found[-1]) if found else {"error": log.read_text()[-2000:]})
    return after


def als_fit(size: str, data_dir: Path | None = None) -> dict:
    """In this process: generate the size's data (or read ``data_dir``, a folder ``nbrec data
    generate`` wrote for this size) and fit ALS (default recipe) on all of it."""
    import resource

    import pandas as pd

    from nbrec.data.schema import coerce_interactions, deduplicate
    from nbrec.data.synthetic import generate
    from nbrec.models import make_model

    users, items, events = SIZES[size]
    load_before = os.getloadavg()
    start = time.perf_counter()
    if data_dir:
        raw = pd.read_parquet(data_dir / "interactions.parquet")
        interactions = coerce_interactions(raw, str(data_dir))
    else:
        interactions = generate(users=users, items=items, interactions=events, seed=7).interactions
    generated = time.perf_counter() - start
    frame = deduplicate(interactions)
    start = time.perf_counter()
    model = make_model("als", progress=True).fit(frame)
    return {"size": size, "generate_s": generated, "als_fit_s": time.perf_counter() - start,
            "als_model_fit_s": model.fit_seconds_, "interactions": len(frame),
            "iterations": getattr(model, "iterations_run_", None), "load_before": load_before,
            "data": str(data_dir) if data_dir else "generated",
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "load": os.getloadavg(), "date": datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip


def run_env(work: Path) -> dict:
    return {**os.environ, "NBREC_VAR_DIR": str(work / "var"),
            "NBREC_MODEL_STORE_DIR": str(work / "models"), "NBREC_STORE_URL": "",
            "PREFECT_HOME": str(work / "prefect"), "PYTHONUNBUFFERED": "1",
            # a busy shared machine can take minutes to start Prefect's ephemeral API
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600"}  # fmt: skip


def run_size(
    size: str, cap_gib: float | None, out_dir: Path, keep_work: bool = False,
    data_dir: Path | None = None, after: bool = True,
) -> dict:  # fmt: skip
    users, items, events = SIZES[size]
    work = Path(tempfile.mkdtemp(prefix=f"nbrec-scale-{size}-", dir=out_dir))
    env = run_env(work)
    cap = int(cap_gib * 2**30) if cap_gib else None
    nbrec = [sys.executable, "-m", "nbrec"]
    result = {"size": size, "users": users, "items": items, "events": events, "cap_gib": cap_gib,
              "load_before": os.getloadavg(), "work": str(work)}  # fmt: skip
    data = work / "data"
    if data_dir:
        data.symlink_to(data_dir.resolve(), target_is_directory=True)
        result["generate"] = {"reused": str(data_dir)}
    else:
        result["generate"] = timed(nbrec + ["data", "generate", "--users", str(users), "--items",
                                            str(items), "--interactions", str(events), "--seed",
                                            "7", "--out", str(data)], env, cap,
                                   work / "generate.log")  # fmt: skip
    result["train"] = timed(nbrec + ["train", "--dataset", str(data), "--notebooks", "",
                                     "--model", "auto"], env, cap, work / "train.log")  # fmt: skip
    result["train"].update(train_details(work))
    (work / "train.json").write_text(json.dumps(result["train"], indent=2))
    if result["train"]["returncode"] == 0 and after:
        result["after"] = measure_after(work, env, cap)
    result["load_after"] = os.getloadavg()
    result["date"] = datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return result


def train_details(work: Path) -> dict:
    """Stages (Prefect's database, else the printed line, else the log) and the log's tail."""
    text = (work / "train.log").read_text()
    stages = (
        stage_seconds_db(work / "prefect") or stage_seconds_printed(text) or stage_seconds(text)
    )
    return {"stages": stages, "tail": text.splitlines()[-12:]}


def after_only(size: str, work: Path, results: Path) -> dict:
    """The after-training figures of the kept run ``work``, into the size's record of that
    run (rebuilt from the folder when the newest record is another run's)."""
    record_file = results / f"{size}.json"
    result = json.loads(record_file.read_text()) if record_file.is_file() else {}
    if result.get("work") != str(work):
        result = from_folder(size, work)
    env = run_env(work)
    load_before = os.getloadavg()
    after = measure_after(work, env, None)
    after.update({"work": str(work), "load_before": load_before, "load_after": os.getloadavg(),
                  "date": datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")})  # fmt: skip
    result["after"] = after
    return result


def from_folder(size: str, work: Path) -> dict:
    """A run's record from its kept folder: ``train.json`` (written since), else the train
    log (peak RSS, exit from its last line) with the flow's elapsed time from its bar."""
    users, items, events = SIZES[size]
    saved = work / "train.json"
    text = (work / "train.log").read_text()
    if saved.is_file():
        train = json.loads(saved.read_text())
    else:
        peak = re.findall(r"PEAK_KB (\d+)", text)
        h, m, sec = re.findall(r"Completed (\d+):(\d\d):(\d\d)", text)[-1]
        train = {"seconds": int(h) * 3600 + int(m) * 60 + int(sec),
                 "seconds_from": "flow time from its progress bar, the wall time was not kept",
                 "peak_rss_gib": int(peak[-1]) / 2**20 if peak else None,
                 "returncode": 0 if "\nlive: " in text else 1, **train_details(work)}  # fmt: skip
    cap = re.findall(r"address-space limit ([\d.]+) GiB", text)
    when = datetime.utcfromtimestamp((work / "train.log").stat().st_mtime)
    return {"size": size, "users": users, "items": items, "events": events,
            "cap_gib": float(cap[-1]) if cap else None, "work": str(work), "train": train,
            "load_before": None, "load_after": None,
            "date": when.strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=list(SIZES))
    parser.add_argument("--cap-gib", type=float, default=None,
                        help="address-space cap of the run (default: none, as a user runs it)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--record", action="store_true", help="rewrite RESULTS.md and the plot")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--after-training", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--after-only", type=Path, help="only the after-training step, on a kept run folder")  # fmt: skip
    parser.add_argument("--als-fit", action="store_true", help="only: generate SIZE, fit ALS")
    parser.add_argument("--data", type=Path, help="a data folder of SIZE to use instead of generating")  # fmt: skip
    parser.add_argument("--skip-after", action="store_true", help="no after-training step")
    args = parser.parse_args()
    if args.after_training:
        print("AFTER " + json.dumps(after_training(args.after_training)), flush=True)
        return
    if args.als_fit:
        result = als_fit(args.size, args.data)
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / f"als-{args.size}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        return
    if args.size:
        if args.after_only:
            result = after_only(args.size, args.after_only.resolve(), args.results)
        else:
            result = run_size(args.size, args.cap_gib, args.out, args.keep, args.data,
                              not args.skip_after)  # fmt: skip
        keep(args.results, args.size, result)
        print(json.dumps({k: v for k, v in result.items() if k != "train"}, indent=2))
        print(json.dumps(result["train"], indent=2))
    if args.record:
        record(args.results)


if __name__ == "__main__":
    main()
