"""Load benchmark: the service at 80% of its own measured peak for a minute, errors and memory.

    .venv/bin/python benchmarks/load/run_load.py [--duration 60] [--connections 16] [--store sqlite|redis]

Loopback only. The service (``nbrec serve``, BentoML) runs in its own process; ``wrk`` drives it
from another (a Lua script cycles POST /recommend over every known user). Steps: warm-up, peak
(unpaced, ``--peak-seconds``), a short calibration of wrk's per-connection ``delay()`` so the
offered rate is 80% of that peak, then the paced run for ``--duration`` seconds (bounded: at most
duration x rate requests). The RSS of the service's process tree is sampled every second.
Results (throughput vs peak, p50, p99, errors, RSS growth after warm-up) go to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "serving"))
sys.path.insert(0, str(ROOT / "tests"))
# The serving benchmark's helpers: server process, wrk runner, machine description.
from bench_serving import BIN, Server, ensure_wrk, free_port, machine, publish_model, run_wrk  # noqa: E402


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and its descendants (BentoML's arbiter and worker), MiB."""
    parents, rss = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        pid = int(status.parent.name)
        parents[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        tree.update(frontier)
    return sum(rss.get(p, 0.0) for p in tree)


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._done = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(self.every):
            self.samples.append((time.monotonic() - start, tree_rss_mib(self.pid)))

    def stop(self) -> list[tuple[float, float]]:
        self._done.set()
        self.join()
        return self.samples


def memory_growth(samples: list[tuple[float, float]], warmup: float) -> dict:
    """RSS after warm-up: first, last, max, and the fitted slope in MiB per minute."""
    steady = [(t, m) for t, m in samples if t >= warmup]
    t, m = np.array(steady).T
    slope = float(np.polyfit(t, m, 1)[0]) * 60
    return {"first": m[0], "last": m[-1], "max": m.max(), "min": m.min(),
            "growth": m[-1] - m[0], "slope_mib_per_min": slope, "n": len(m)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--peak-seconds", type=float, default=10)
    parser.add_argument("--fraction", type=float, default=0.8, help="of the measured peak")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of the paced run "
                        "before memory counts as warmed up")  # fmt: skip
    parser.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="nbrec-load-"))
    env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
           "NBREC_VAR_DIR": str(work / "var")}  # fmt: skip
    from store.redis_server import redis_server

    with redis_server(work) if args.store == "redis" else _sqlite(work) as url:
        users = publish_model(url)
        port = free_port()
        server = Server("nbrec", [str(BIN / "nbrec"), "serve", "--port", str(port)],
                        {**env, "NBREC_STORE_URL": url}, ROOT, "/recommend", port)  # fmt: skip
        try:
            pid, c = server.proc.pid, args.connections
            run_wrk(wrk, server.url, users, 5, c)  # warm-up
            peak = run_wrk(wrk, server.url, users, args.peak_seconds, c, server_pid=pid)
            target = args.fraction * peak["rps"]
            delay = 1000.0 * c / target
            for _ in range(3):
                # rate = c / (delay + latency): move the delay by the gap between the two
                # per-connection periods (a few short probes converge on a busy machine).
                probe = run_wrk(wrk, server.url, users, 4, c, delay)
                delay = max(0.0, delay + 1000.0 * c * (1 / target - 1 / probe["rps"]))
            print(f"peak {peak['rps']:.0f} req/s; target {target:.0f} req/s; delay {delay:.2f} ms",
                  flush=True)  # fmt: skip
            sampler = RssSampler(pid)
            sampler.start()
            paced = paced_run(wrk, server.url, users, args.duration, c, delay, target, pid)
            samples = sampler.stop()
            tracebacks = server.log.read_text(errors="replace").count("Traceback")
            served, dropped = _served_and_dropped(server.url)
        finally:
            server.stop()  # SIGTERM: the RR log writes what it still holds
    logged = sum(
        len(f.read_text().splitlines()) for f in (work / "var" / "logs").glob("rr-*.jsonl")
    )
    events = {"served": served, "logged": logged, "dropped": dropped}
    mem = memory_growth(samples, args.warmup)
    print({"peak": peak, "paced": paced, "memory": mem, "tracebacks": tracebacks, **events})
    write_results(args, peak, target, paced, mem, samples, tracebacks, events)


SEGMENT = 10.0  # seconds per wrk run of the paced minute


def paced_run(wrk, url, users, duration, c, delay, target, pid) -> dict:
    """``duration`` seconds at ``target`` req/s, as back-to-back wrk runs of SEGMENT seconds.

    wrk paces with a fixed per-connection delay, so the offered rate drifts with the service's
    latency; between segments the delay is corrected toward the target (a simple controller).
    Totals: requests / seconds, the median p50 and the worst p99 of the segments.
    """
    segments = []
    for _ in range(max(1, round(duration / SEGMENT))):
        run = run_wrk(wrk, url, users, SEGMENT, c, delay, server_pid=pid)
        segments.append(run)
        delay = max(0.0, delay + 1000.0 * c * (1 / target - 1 / run["rps"]))
    return {
        "rps": sum(s["rps"] for s in segments) / len(segments),
        "p50": float(np.median([s["p50"] for s in segments])),
        "p99": max(s["p99"] for s in segments),
        "non2xx": sum(s["non2xx"] for s in segments),
        "socket_errors": "; ".join(s["socket_errors"] for s in segments if s["socket_errors"]),
        "load": segments[0]["load"],
        "segments_rps": [round(s["rps"]) for s in segments],
        "segments_p99": [round(s["p99"], 1) for s in segments],
    }


def _served_and_dropped(url: str) -> tuple[int, int]:
    """Requests the service answered on /recommend, and RR log lines it dropped (/metrics)."""
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    served = dropped = 0.0
    for line in text.splitlines():
        if line.startswith('nbrec_requests_total{endpoint="/recommend"'):
            served += float(line.rsplit(" ", 1)[1])
        elif line.startswith("nbrec_log_lines_dropped_total"):
            dropped += float(line.rsplit(" ", 1)[1])
    return int(served), int(dropped)


class _sqlite:
    def __init__(self, work: Path):
        self.url = f"sqlite:///{work / 'features.db'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc) -> None:
        pass


def write_results(args, peak, target, paced, mem, samples, tracebacks, events) -> None:
    errors = paced["non2xx"] + (1 if paced["socket_errors"] else 0) + tracebacks
    flat = abs(mem["growth"]) < 0.05 * mem["first"] and abs(mem["slope_mib_per_min"]) < 2.0
    trace = ", ".join(f"{m:.0f}" for _, m in samples[:: max(1, len(samples) // 12)])
    lines = [
        "# Load benchmark results", "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `.venv/bin/python benchmarks/load/run_load.py --duration {args.duration:g} "
        f"--connections {args.connections} --store {args.store}`",
        f"- machine: {machine()}",
        f"- load average at the start of the paced run: {paced['load']:.2f} (the machine is "
        "shared with other engineers' test runs)",
        f"- load: wrk, 1 thread, {args.connections} connections, loopback, POST /recommend "
        "cycling over every known user of the published item_knn model (synthetic data); "
        f"feature store: {args.store}",
        "",
        "| run | seconds | req/s | vs peak | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| peak (unpaced) | {args.peak_seconds:g} | {peak['rps']:.0f} | 1.00 | {peak['p50']:.2f} "
        f"| {peak['p99']:.2f} | {peak['non2xx']} | {peak['socket_errors'] or 'none'} |",
        f"| paced at {args.fraction:.0%} of peak (target {target:.0f}) | {args.duration:g} "
        f"| {paced['rps']:.0f} | {paced['rps'] / peak['rps']:.2f} | {paced['p50']:.2f} "
        f"| {paced['p99']:.2f} | {paced['non2xx']} | {paced['socket_errors'] or 'none'} |",
        "",
        f"The paced minute is {len(paced['segments_rps'])} back-to-back wrk runs of {SEGMENT:g} s "
        "(the per-connection delay re-aimed at the target between runs); p50 is their median, "
        f"p99 their worst. Per run: req/s {paced['segments_rps']}, p99 ms {paced['segments_p99']}.",
        "",
        f"Memory (RSS of the service's process tree, sampled every second; warm-up = first "
        f"{args.warmup:g} s): {mem['first']:.0f} MiB after warm-up, {mem['last']:.0f} MiB at the "
        f"end (growth {mem['growth']:+.1f} MiB, min {mem['min']:.0f}, max {mem['max']:.0f}); "
        f"fitted slope {mem['slope_mib_per_min']:+.2f} MiB/min over {mem['n']} samples.",
        f"RSS trace (MiB, every ~{max(1, len(samples) // 12)} s): {trace}.",
        "",
        f"Tracebacks in the service log: {tracebacks}.",
        "",
        f"RR log: {events['served']} requests answered on /recommend (whole run, warm-up "
        f"included), {events['logged']} RR log lines on disk after shutdown, "
        f"{events['dropped']} dropped (nbrec_log_lines_dropped_total): "
        f"{events['served'] - events['logged']} events lost.",
        "",
        "## Against the goals", "",
        f"- zero errors: **{'met' if errors == 0 else 'NOT met'}** ({paced['non2xx']} non-2xx, "
        f"socket errors: {paced['socket_errors'] or 'none'}, {tracebacks} tracebacks)",
        f"- events lost: **{events['served'] - events['logged']}** (every answered request has "
        "its RR log line)",
        f"- memory flat after warm-up: **{'met' if flat else 'NOT met'}** (criterion: growth "
        "under 5% of the warmed-up RSS and |slope| under 2 MiB/min)",
        "",
    ]  # fmt: skip
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
