"""Serving benchmark: bare Starlette vs bare BentoML vs nbrec /recommend (SQLite, Redis).

    .venv/bin/python benchmarks/serving/bench_serving.py [--duration 10] [--connections 16]

Every server runs in its own process on loopback; ``wrk`` (Debian package, installed here if
missing) is the load generator in another process. For each target: peak throughput, p50 and
p99 at ``--connections`` connections, and the ratio to bare Starlette measured in the same run;
for nbrec also p99 at about half of its own peak (wrk's ``delay()`` paces each connection).
Plus an in-process microbenchmark of the request path. Results go to RESULTS.md next to this file.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        print("wrk not found: installing the Debian package", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is required: `apt-get install wrk` (as root)")
    return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and all its descendants (from /proc)."""
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process exited meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    tree, frontier = {root}, [root]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree.update(children)
        frontier = children
    return sum(cpu.get(p, 0.0) for p in tree)


class Server:
    """A server process (own session, so the whole group is stopped)."""

    def __init__(self, name: str, cmd: list[str], env: dict, cwd: Path, ready_path: str, port: int):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        slug = re.sub(r"\W+", "-", name)
        self.log = Path(tempfile.gettempdir()) / f"bench-{slug}-{port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if (
                    httpx.post(
                        self.url + ready_path, json={"user_id": "u0001"}, timeout=2
                    ).status_code
                    < 500
                ):
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"{name} did not start; log: {self.log}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def lua_script(users: list[str], delay_ms: float | None) -> str:
    table = ",".join(f'"{u}"' for u in users)
    script = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local users = {{{table}}}
local n = 0
request = function()
  n = n + 1
  local body = '{{"user_id": "' .. users[(n % #users) + 1] .. '", "k": 10}}'
  return wrk.format(nil, nil, nil, body)
end
"""
    if delay_ms:
        script += f"delay = function() return {delay_ms:.3f} end\n"
    return script


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(wrk: str, url: str, users: list[str], seconds: float, connections: int,
            delay_ms: float | None = None, server_pid: int | None = None) -> dict:  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_script(users, delay_ms))
    load = os.getloadavg()[0]
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", f.name, url + "/recommend"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = tree_cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    os.unlink(f.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if set(lat) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(lat["50"]), "p99": _ms(lat["99"]),
        "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else "",
        "load": load,
        # Server CPU per answered request: unlike req/s, barely moved by other load on the machine.
        "cpu_us": cpu / max(requests, 1) * 1e6,
    }  # fmt: skip


def publish_model(store_url: str):
    from nbrec.data.synthetic import generate
    from nbrec.models import make_model
    from nbrec.pipeline.publish import publish

    data = generate()
    model = make_model("item_knn").fit(data.interactions, data.items, data.users)
    publish(model, "bench", store_url, items=data.items)
    return [str(u) for u in model.user_ids_]


def microbench(store_url: str, users: list[str], cache_size: int, n: int = 20_000) -> dict:
    """In-process request path: route, lookup, filter, metrics, RR log queue; one store call.

    ``cache_size`` > 0: the user's top-N list is in memory, the store call reads the seen items
    only; 0: the list and the seen items are read in one round trip on every request.
    """
    from nbrec.rrlog.writer import RRLogger
    from nbrec.serving.schemas import RecommendRequest
    from nbrec.serving.service import RecommendationService
    from nbrec.store import open_store

    with tempfile.TemporaryDirectory() as logs:
        svc = RecommendationService(
            open_store(store_url), rr_log=RRLogger(logs), cache_size=cache_size
        )
        req = RecommendRequest(user_id=users[0], k=10)
        svc.recommend(req)  # warm
        times = []
        for _ in range(n):
            start = time.perf_counter()
            svc.recommend(req)
            times.append(time.perf_counter() - start)
        svc.close()
    times.sort()
    return {
        "median_us": statistics.median(times) * 1e6,
        "p99_us": times[int(0.99 * len(times))] * 1e6,
    }


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in
             (cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []) if "model name" in line]  # fmt: skip
    cpu = names[0] if names else platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import bentoml
    import starlette
    import uvicorn

    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.platform()}, Python "
            f"{platform.python_version()}, bentoml {bentoml.__version__}, starlette "
            f"{starlette.__version__}, uvicorn {uvicorn.__version__} (asyncio loop, h11)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved runs per target (median)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-bare-bentoml-modes", action="store_true",
                        help="bare BentoML in its default (api) mode only")  # fmt: skip
    args = parser.parse_args()
    wrk = ensure_wrk()
    sys.path.insert(0, str(ROOT / "tests"))  # reuse the test helper that starts redis-server
    work = Path(tempfile.mkdtemp(prefix="nbrec-bench-"))
    base_env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
                "NBREC_VAR_DIR": str(work / "var"), "PYTHONPATH": str(HERE / "targets")}  # fmt: skip
    from store.redis_server import redis_server

    sqlite_url = f"sqlite:///{work / 'features.db'}"
    users = publish_model(sqlite_url)
    args.users = len(users)
    bentoml_cmd = [str(BIN / "bentoml"), "serve", "bare_bentoml:Bare", "--port", "{port}"]
    nbrec_cmd = [str(BIN / "nbrec"), "serve", "--port", "{port}"]
    # BentoML's HTTP metrics on in every nbrec row but one (the goals are set with them)
    on = {"NBREC_BENTOML_METRICS": "true"}
    with redis_server(work) as redis_url:
        publish_model(redis_url)
        targets = [
            ("bare Starlette/uvicorn (reference)",
             [str(BIN / "uvicorn"), "--no-access-log", "--port", "{port}", "bare_starlette:app"], {}),
            *[(f"bare BentoML ({mode})", bentoml_cmd, {"BENCH_BENTO_MODE": mode})
              for mode in (("api",) if args.no_bare_bentoml_modes else
                           ("api", "mounted", "mounted-tuned", "mounted-frozen"))],
            ("nbrec /recommend, SQLite, top-N cached", nbrec_cmd, {**on, "NBREC_STORE_URL": sqlite_url}),
            ("nbrec /recommend, SQLite, uncached", nbrec_cmd,
             {**on, "NBREC_STORE_URL": sqlite_url, "NBREC_TOP_N_CACHE_SIZE": "0"}),
            ("nbrec /recommend, SQLite, top-N cached, no BentoML metrics", nbrec_cmd,
             {"NBREC_STORE_URL": sqlite_url, "NBREC_BENTOML_METRICS": "false"}),
            ("nbrec /recommend, Redis, top-N cached", nbrec_cmd, {**on, "NBREC_STORE_URL": redis_url}),
            ("nbrec /recommend, Redis, uncached", nbrec_cmd,
             {**on, "NBREC_STORE_URL": redis_url, "NBREC_TOP_N_CACHE_SIZE": "0"}),
        ]  # fmt: skip
        servers = []
        try:
            # All servers up at once (idle ones cost nothing); runs interleave round by round,
            # so a burst of load from other users of the machine hits every target alike.
            for name, cmd, extra in targets:
                port = free_port()
                cmd = [c.replace("{port}", str(port)) for c in cmd]
                servers.append(
                    Server(name, cmd, {**base_env, **extra}, HERE / "targets", "/recommend", port)
                )
            for server in servers:
                run_wrk(wrk, server.url, users, 2, args.connections)  # warm up
            runs: dict[str, list[dict]] = {s.name: [] for s in servers}
            for round_ in range(args.rounds):
                for server in servers:
                    result = run_wrk(wrk, server.url, users, args.duration, args.connections,
                                     server_pid=server.proc.pid)  # fmt: skip
                    runs[server.name].append(result)
                    print(f"round {round_ + 1} {server.name:45s} {result}", flush=True)
            peaks = {s.name: median_run(runs[s.name]) for s in servers}
            # Half of each nbrec target's own peak, interleaved round by round like the peaks.
            paced: dict[str, list[dict]] = {
                s.name: [] for s in servers if s.name.startswith("nbrec")
            }
            for _ in range(args.rounds):
                for server in servers:
                    if server.name in paced:
                        delay = 1000.0 * args.connections / (peaks[server.name]["rps"] / 2)
                        result = run_wrk(wrk, server.url, users, args.duration, args.connections,
                                         delay, server_pid=server.proc.pid)  # fmt: skip
                        paced[server.name].append(result)
                        print(f"half load {server.name:41s} {result}", flush=True)
            rows = [(s.name, peaks[s.name], median_p99(paced.get(s.name))) for s in servers]
        finally:
            for server in servers:
                server.stop()
        micro = {
            f"{name}, {label}": microbench(url, users, size)
            for name, url in (("SQLite", sqlite_url), ("Redis", redis_url))
            for label, size in (("top-N cached", 50_000), ("uncached", 0))
        }
    print("in-process:", micro)
    write_results(args, rows, micro)
    shutil.rmtree(work, ignore_errors=True)


def median_run(results: list[dict]) -> dict:
    """The run with the median throughput (its latencies belong to it); median CPU per request."""
    ordered = sorted(results, key=lambda r: r["rps"])
    return {
        **ordered[len(ordered) // 2],
        "all_rps": [round(r["rps"]) for r in results],
        "cpu_us": statistics.median(r["cpu_us"] for r in results),
    }


def median_p99(results: list[dict] | None) -> dict | None:
    """The run with the median p99 (and every run's p99), for the paced runs."""
    if not results:
        return None
    ordered = sorted(results, key=lambda r: r["p99"])
    return {**ordered[len(ordered) // 2], "all_p99": [round(r["p99"], 1) for r in results]}


def write_results(args, rows, micro) -> None:
    ref, ref_cpu = rows[0][1]["rps"], rows[0][1]["cpu_us"]
    lines = [
        "# Serving benchmark results", "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `.venv/bin/python benchmarks/serving/bench_serving.py --duration {args.duration:g} "
        f"--connections {args.connections} --rounds {args.rounds}"
        f"{' --no-bare-bentoml-modes' if args.no_bare_bentoml_modes else ''}`",
        f"- machine: {machine()}",
        f"- load generator: wrk, 1 thread, {args.connections} connections, loopback, "
        f"{args.duration:g} s per run after a 2 s warm-up; POST bodies cycle over the "
        "published model's users (all known users)",
        "- the machine is shared with other engineers' test runs: `load` is the 1-minute load "
        "average when each run started (2 cores: above ~1 means someone else was busy)",
        f"- each target: {args.rounds} interleaved runs; the table shows the median run (all runs' "
        "req/s in the last column)",
        "- one worker; BentoML's HTTP metrics on (NBREC_BENTOML_METRICS=true) except in the row that says otherwise. Every nbrec answer makes "
        "one store call: the user's recently seen items are never cached (feedback is fresh on "
        "every worker). `top-N cached`: the user's top-N list is in the worker's memory (wrk "
        f"cycles over {args.users} users, all cached after the warm-up whatever the machine's "
        "speed), the store call reads the seen items only; `uncached` (NBREC_TOP_N_CACHE_SIZE=0): "
        "the list and the seen items in one round trip, every request",
        "- machine speed: bare Starlette's req/s and CPU µs/req in this run are the reference "
        "figure; compare other machines through the ratios",
        "- `CPU µs/req`: CPU time of the server's processes per answered request, and Starlette's "
        "figure divided by it (`CPU ratio`): the throughput ratio the machine would show with a "
        "core to spare for each side, much less disturbed by other load than req/s",
        "", "| target | req/s | ratio to Starlette | p50 ms | p99 ms | CPU µs/req | CPU ratio | non-2xx "
        "| load | all runs req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for name, peak, _ in rows:
        lines.append(f"| {name} | {peak['rps']:,.0f} | {peak['rps'] / ref:.0%} | {peak['p50']:.2f} | "
                     f"{peak['p99']:.2f} | {peak['cpu_us']:.0f} | {ref_cpu / peak['cpu_us']:.0%} | "
                     f"{peak['non2xx']} | {peak['load']:.2f} | {peak['all_rps']} |")  # fmt: skip
    lines += ["", f"At about half of its own peak (wrk `delay()` pacing each connection; {args.rounds} "
              "interleaved runs, the one with the median p99):", "",
              "| target | req/s | p50 ms | p99 ms | load | all runs p99 ms |",
              "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for name, _, paced in rows:
        if paced:
            lines.append(f"| {name} | {paced['rps']:,.0f} | {paced['p50']:.2f} | {paced['p99']:.2f} | "
                         f"{paced['load']:.2f} | {paced['all_p99']} |")  # fmt: skip
    lines += ["", "In-process request path (k=10, metrics and RR log included):", "",
              "| store, user | median µs | p99 µs |", "|---|---:|---:|"]  # fmt: skip
    for store, m in micro.items():
        lines.append(f"| {store} | {m['median_us']:.1f} | {m['p99_us']:.1f} |")
    for kept in ("NOTES.md", "SCALEOUT.md"):  # hand-written notes, bench_scaleout.py's figures
        notes = HERE / kept
        if notes.is_file():
            lines += ["", notes.read_text().strip()]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
