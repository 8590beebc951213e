"""Scale benchmark: the whole pipeline at three sizes, as a user runs it.

    python benchmarks/scale/bench_scale.py --size small [--cap-gib 8] [--out DIR] [--record]

For one size: ``nbrec data generate`` (seed 7), then ``nbrec train --dataset DIR --notebooks ""
--model auto`` under ``prlimit --as`` (the cap: on a shared machine a runaway gets MemoryError,
not the kernel's OOM killer), wall time per stage from the flow's task log lines and peak RSS
(``/usr/bin/time``); then, in a child process, the registered model published into a fresh
SQLite file and a fresh redis-server (time, bytes per user on disk / in Redis) and batch scoring
throughput (users/s, one thread). Results: ``results/<size>.json``; ``--record`` rewrites
RESULTS.md (table, growth exponent medium -> large where both exist) and the plot.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
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
SIZES = {  # users, items, events
    "small": (10_000, 5_000, 200_000),
    "medium": (100_000, 20_000, 2_000_000),
    "large": (1_000_000, 100_000, 20_000_000),
}
GOALS = {"small": None, "medium": (300, 8), "large": (1800, 16)}  # seconds, GiB
STAGES_LINE = re.compile(r"^train stages \(s\): (.*)$", re.M)
TASK_DONE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) \| INFO\s+\| Task run '([a-z_]+)-[^']*' - Finished")


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


def stage_seconds(log_text: str) -> dict[str, float]:
    """Seconds per flow task from consecutive 'Finished' lines (tasks run one after another;
    mapped scoring shards are summed into one stage)."""
    stamps = []
    for line in log_text.splitlines():
        match = TASK_DONE.match(line)
        if match:
            h, m, s = match.group(1).split(":")
            stamps.append((int(h) * 3600 + int(m) * 60 + float(s), match.group(2)))
    stages: dict[str, float] = {}
    for (prev, _), (now, name) in zip(stamps, stamps[1:], strict=False):
        stages[name] = stages.get(name, 0.0) + (now - prev) % 86400
    if stamps:
        stages = {stamps[0][1]: float("nan"), **stages}  # the first task's start is not logged
    return stages


def stage_seconds_printed(log_text: str) -> dict[str, float]:
    """Seconds per task from the line ``nbrec train`` prints at the end (``flow_progress``)."""
    found = STAGES_LINE.findall(log_text)
    if not found:
        return {}
    pairs = (part.rsplit(" ", 1) for part in found[-1].split(", "))
    return {name: float(seconds) for name, seconds in pairs}


def stage_seconds_db(prefect_home: Path) -> dict[str, float]:
    """Wall seconds per flow task from the ephemeral Prefect server's database (the union of
    each task name's runs: mapped scoring shards count once, as they ran)."""
    import sqlite3
    from datetime import datetime as dt

    db = prefect_home / "prefect.db"
    if not db.is_file():
        return {}
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT name, start_time, end_time FROM task_run "
                           "WHERE start_time IS NOT NULL ORDER BY start_time").fetchall()  # fmt: skip
    spans: dict[str, list] = {}
    for name, start, end in rows:
        spans.setdefault(name.rsplit("-", 1)[0], []).append(
            (dt.fromisoformat(start), dt.fromisoformat(end or start))
        )
    return {stage: union_seconds(intervals) for stage, intervals in spans.items()}


def union_seconds(intervals: list) -> float:
    """Length of the union of (start, end) intervals: parallel shards count once, two separate
    runs of one task (validate_recommendations before and after publish) add up."""
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current and start <= current[1]:
            current[1] = max(current[1], end)
            continue
        if current:
            total += (current[1] - current[0]).total_seconds()
        current = [start, end]
    return total + ((current[1] - current[0]).total_seconds() if current else 0.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def after_training(work: Path) -> dict:
    """In this (child) process: publish the registered version into SQLite and Redis, and
    measure batch scoring. Reads NBREC_* from the environment the training run had."""
    import numpy as np
    import redis

    from nbrec.pipeline import model_store, scoring
    from nbrec.pipeline.publish import publish

    version = model_store.list_model_versions()[0].version
    model = model_store.load_model(version)
    users = model.user_ids_.to_numpy()
    out: dict = {"version": version, "model": model.name, "users": len(users)}
    start = time.perf_counter()
    for shard in scoring.shards(np.arange(min(len(users), 50_000))):
        scoring.score_rows(model, shard, 100)  # the top-N depth publish writes
    out["scoring_users_per_s"] = min(len(users), 50_000) / (time.perf_counter() - start)

    sqlite_path = work / "publish.sqlite"
    start = time.perf_counter()
    publish(model, "bench", f"sqlite:///{sqlite_path}")
    out["publish_sqlite_s"] = time.perf_counter() - start
    out["sqlite_bytes_per_user"] = sqlite_path.stat().st_size / len(users)

    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly",
                               "no"], stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        before = client.info("memory")["used_memory"]
        start = time.perf_counter()
        publish(model, "bench", f"redis://127.0.0.1:{port}/0")
        out["publish_redis_s"] = time.perf_counter() - start
        out["redis_bytes_per_user"] = (client.info("memory")["used_memory"] - before) / len(users)
    finally:
        server.terminate()
        server.wait()
    del np
    return out


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


def run_size(size: str, cap_gib: float, out_dir: Path, keep: bool = False) -> dict:
    users, items, events = SIZES[size]
    work = Path(tempfile.mkdtemp(prefix=f"nbrec-scale-{size}-", dir=out_dir))
    env = {**os.environ, "NBREC_VAR_DIR": str(work / "var"),
           "NBREC_MODEL_STORE_DIR": str(work / "models"), "NBREC_STORE_URL": "",
           "PREFECT_HOME": str(work / "prefect"), "PYTHONUNBUFFERED": "1",
           # a busy shared machine can take minutes to start Prefect's ephemeral API
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600"}  # fmt: skip
    cap = int(cap_gib * 2**30)
    nbrec = [sys.executable, "-m", "nbrec"]
    result = {"size": size, "users": users, "items": items, "events": events, "cap_gib": cap_gib,
              "load_before": os.getloadavg()}  # fmt: skip
    data = work / "data"
    result["generate"] = timed(nbrec + ["data", "generate", "--users", str(users), "--items",
                                        str(items), "--interactions", str(events), "--seed", "7",
                                        "--out", str(data)], env, cap, work / "generate.log")  # fmt: skip
    train_log = work / "train.log"
    result["train"] = timed(nbrec + ["train", "--dataset", str(data), "--notebooks", "",
                                     "--model", "auto"], env, cap, train_log)  # fmt: skip
    text = train_log.read_text()
    # Prefect's server without its services records no task runs: the printed line then.
    result["train"]["stages"] = (
        stage_seconds_db(work / "prefect") or stage_seconds_printed(text) or stage_seconds(text)
    )
    result["train"]["tail"] = text.splitlines()[-12:]
    if result["train"]["returncode"] == 0:
        child = [sys.executable, __file__, "--after-training", str(work)]
        log = work / "after.log"
        result["after"] = timed(child, env, cap, log)
        found = re.findall(r"^AFTER (.*)$", log.read_text(), re.M)
        result["after"].update(
            json.loads(found[-1]) if found else {"error": log.read_text()[-2000:]}
        )
    result["load_after"] = os.getloadavg()
    result["date"] = datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def exponent(a: dict, b: dict, key) -> float | None:
    """Growth exponent of a cost between two sizes, against the number of events."""
    ya, yb = key(a), key(b)
    if not ya or not yb:
        return None
    return math.log(yb / ya) / math.log(b["events"] / a["events"])


def record(results_dir: Path) -> None:
    """RESULTS.md and scale.png from results/*.json."""
    found = {p.stem: json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))}
    rows = [found[s] for s in SIZES if s in found]
    lines = [
        "# Scale benchmark: the whole pipeline at three sizes",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, 24 GiB shared by ~8 engineers; "
        f"Python {platform.python_version()}. Load average (1/5/15 min) before and after each "
        "run is recorded: the 2 cores were shared, so times are upper bounds.",
        "",
        "Command per size: `python benchmarks/scale/bench_scale.py --size SIZE --cap-gib CAP "
        "--record` (data from `nbrec data generate --seed 7`; `nbrec train --dataset DIR "
        '--notebooks "" --model auto` under `prlimit --as=CAP`).',
        "",
        "| size | users / items / events | train wall | train peak RSS | cap | stages (s) | "
        "publish SQLite | SQLite B/user | publish Redis | Redis B/user | scoring users/s | "
        "goal | load before/after | date |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, a = r["train"], r.get("after", {})
        stages = ", ".join(f"{k} {v:.0f}" for k, v in t.get("stages", {}).items() if v == v)
        goal = GOALS[r["size"]]
        goal_text = f"< {goal[0] // 60} min, < {goal[1]} GiB" if goal else "-"
        status = {0: "ok", 3: "rejected by the gate, exit 3"}.get(
            t["returncode"], f"FAILED (exit {t['returncode']})"
        )
        fmt = lambda v, f="{:.1f}": f.format(v) if isinstance(v, int | float) else "-"  # noqa: E731
        lines.append(
            f"| {r['size']} | {r['users']:,} / {r['items']:,} / {r['events']:,} | "
            f"{t['seconds']:.0f} s ({status}) | {fmt(t['peak_rss_gib'], '{:.2f}')} GiB | "
            f"{r['cap_gib']:g} GiB | {stages} | {fmt(a.get('publish_sqlite_s'))} s | "
            f"{fmt(a.get('sqlite_bytes_per_user'), '{:.0f}')} | {fmt(a.get('publish_redis_s'))} s | "
            f"{fmt(a.get('redis_bytes_per_user'), '{:.0f}')} | "
            f"{fmt(a.get('scoring_users_per_s'), '{:,.0f}')} | {goal_text} | "
            f"{'/'.join(f'{x:.1f}' for x in r['load_before'])} -> "
            f"{'/'.join(f'{x:.1f}' for x in r['load_after'])} | {r['date']} |"
        )
    for size in SIZES:
        als = found.get(f"als-{size}")
        if als:
            lines += ["", f"ALS alone at the {size} size ({als['interactions']:,} interactions, "
                      f"in process, `--size {size} --als-fit`): fit "
                      f"{als['als_fit_s']:.0f} s (goal at large: < 300 s)"
                      + (f" in {als['iterations']} iterations" if als.get("iterations") else "")
                      + f", peak RSS {als['peak_rss_gib']:.1f} GiB including the data; data "
                      f"({als.get('data', 'generated')}) {als['generate_s']:.0f} s; load "
                      + (f"{'/'.join(f'{x:.1f}' for x in als['load_before'])} -> "
                         if als.get("load_before") else "")
                      + f"{'/'.join(f'{x:.1f}' for x in als['load'])}, {als['date']}."]  # fmt: skip
    done = {s: r for s, r in found.items() if s in SIZES and r["train"]["returncode"] == 0}
    if "medium" in found and "large" in found:
        e = exponent(found["medium"], found["large"], lambda r: r["train"]["seconds"])
        lines += [
            "",
            f"Time growth exponent medium -> large (against events): {e:.2f} (goal <= 1.2)."
            if "large" in done and "medium" in done
            else "Time growth exponent medium -> large: not measured (a run did not complete; "
            f"the times would give {e:.2f}, but the large run stopped early).",
        ]
    if "small" in found and "medium" in found:
        e = exponent(found["small"], found["medium"], lambda r: r["train"]["seconds"])
        lines += ["", f"Time growth exponent small -> medium (against events): {e:.2f}."]
    # Hand-written parts, kept across --record: notes, the store at 1M users, the foundation.
    parts = [
        (HERE / name).read_text() for name in ("notes.md", "store.md") if (HERE / name).is_file()
    ]
    foundation = HERE / "foundation.md"
    if foundation.is_file():
        parts.append(foundation.read_text().replace("# ", "## ", 1))
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n\n" + "\n".join(parts))
    plot(rows)


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["train"]["returncode"] == 0]
    if not done:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    events = [r["events"] for r in done]
    left.loglog(events, [r["train"]["seconds"] for r in done], "o-", label="nbrec train (s)")
    left.loglog(events, [r["train"]["peak_rss_gib"] * 100 for r in done], "s--",
                label="peak RSS (GiB x 100)")  # fmt: skip
    for size, (seconds, _gib) in ((s, g) for s, g in GOALS.items() if g):
        left.plot([SIZES[size][2]], [seconds], "k*")
        left.annotate(f"{size} goal", (SIZES[size][2], seconds))
    left.set_xlabel("events")
    left.legend()
    last = done[-1]
    stages = {k: v for k, v in last["train"].get("stages", {}).items() if v == v}
    right.barh(list(stages), list(stages.values()))
    right.set_xlabel(f"seconds per stage, {last['size']} size")
    fig.suptitle("nbrec cost against size")
    fig.tight_layout()
    fig.savefig(HERE / "scale.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=list(SIZES))
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--record", action="store_true", help="rewrite RESULTS.md and the plot")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--after-training", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--als-fit", action="store_true", help="only: generate SIZE, fit ALS")
    parser.add_argument("--data", type=Path, help="--als-fit: read this data folder instead")
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
        result = run_size(args.size, args.cap_gib, args.out, args.keep)
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / f"{args.size}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps({k: v for k, v in result.items() if k != "train"}, indent=2))
        print(json.dumps(result["train"], indent=2))
    if args.record:
        record(args.results)


if __name__ == "__main__":
    main()
