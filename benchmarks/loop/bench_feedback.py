"""/feedback with durability vs without, side by side in one run; and 0 acknowledged events lost.

    python benchmarks/loop/bench_feedback.py [--seconds 8] [--connections 16] [--loss-events 3000]

Throughput: the real service (``nbrec serve``) on loopback, once per mode, driven by ``wrk``
(one thread, ``--connections``): the non-durable mode (``NBREC_EVENTS_URL=none``: the RR log
only, what /feedback did before) and the durable one (SQLite journal, group commit), each
at its unpaced peak and then paced at half of that peak (wrk ``delay()``) for p99.

Loss: clients post /feedback with their own event_id, the service (the BentoML arbiter and its
worker, which holds the journal) is SIGKILLed mid-stream,
``nbrec ingest`` runs, and every event that got a 200 must be in the warehouse exactly once.
Once with the SQLite journal, once with a Redis Stream (redis-server with AOF, appendfsync
always, SIGKILLed with the service and restarted before ingesting).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbrec.events.ack_clients import AcknowledgedFeedback
from nbrec.lifetime import kill_tree, wait_ready

ROOT = Path(__file__).resolve().parents[2]
NBREC = [sys.executable, "-m", "nbrec"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(work: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NBREC_VAR_DIR": str(work / "var"),
            "BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True",
            "NBREC_BENTOML_METRICS": "false", **extra}  # fmt: skip


def start_service(work: Path, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(work / f"service-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([*NBREC, "serve", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/readyz", "nbrec serve", 120, proc, work / f"service-{port}.log", 0.3)
    except (RuntimeError, TimeoutError) as error:
        stop(proc, signal.SIGKILL)
        sys.exit(f"service did not start: {error}")
    return proc, url


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = '{"user_id": "u' .. (n % 2000) .. '", "item_id": "i' .. (n % 500) .. '", "event": "click"}'
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk(url: str, seconds: float, connections: int, delay_ms: float | None = None) -> dict:
    script = LUA + (f"delay = function() return {delay_ms:.3f} end\n" if delay_ms else "")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s",
                          f.name, url + "/feedback"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    os.unlink(f.name)

    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": ms(lat["50"]), "p99_ms": ms(lat["99"]), "non2xx": int(bad.group(1)) if bad else 0,
            "load": round(os.getloadavg()[0], 2)}  # fmt: skip


def publish(work: Path, env: dict) -> None:
    subprocess.run([*NBREC, "publish", "--dataset", "synthetic", "--model", "popularity",
                    "--version", "bench"], env=env, check=True, capture_output=True)  # fmt: skip


def throughput(work: Path, seconds: float, connections: int) -> dict:
    results = {}
    for mode, events_url in (("non-durable", "none"), ("durable (SQLite journal)", "")):
        env = env_for(work, NBREC_EVENTS_URL=events_url)
        proc, url = start_service(work, env)
        try:
            wrk(url, 2, connections)  # warm-up
            peak = wrk(url, seconds, connections)
            # half of its own peak: each connection waits connections / (rate / 2) between requests
            delay = connections / (peak["rps"] / 2) * 1000
            half = wrk(url, seconds, connections, delay_ms=delay)
        finally:
            stop(proc)
        results[mode] = {"peak": peak, "half_peak": half}
        print(mode, json.dumps(results[mode]), flush=True)
    return results


def loss(work: Path, env: dict, wanted: int, redis_proc=None, restart_redis=None) -> dict:
    proc, url = start_service(work, env)
    users, items = [f"u{n}" for n in range(2000)], [f"i{n}" for n in range(500)]
    with AcknowledgedFeedback(url, users, items, clients=16) as clients:
        clients.wait_for(wanted, timeout=120)
        kill_tree(proc.pid)  # the arbiter and its workers (they run in sessions of their own)
        if redis_proc is not None:
            redis_proc.kill()
        proc.wait()
    acknowledged = clients.acknowledged
    if restart_redis is not None:
        restart_redis()
    run = subprocess.run([*NBREC, "ingest"], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(run.stderr[-3000:])
    import pyarrow.dataset as ds

    ids = ds.dataset(env["NBREC_WAREHOUSE"] + "/events", format="parquet", partitioning="hive").to_table(
        columns=["event_id"])["event_id"].to_pylist()  # fmt: skip
    return {
        "acknowledged": len(acknowledged),
        "in_warehouse": len(ids),
        "lost": len(set(acknowledged) - set(ids)),
        "duplicates": len(ids) - len(set(ids)),
    }


def redis_server(workdir: Path, port: int) -> subprocess.Popen:
    import redis

    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.exit("redis-server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--loss-events", type=int, default=3000)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    # A `timeout` (SIGTERM) still stops the services it started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install wrk")
    out: dict = {"uptime_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        publish(work, env_for(work))
        if not args.skip_throughput:
            out["throughput"] = throughput(work, args.seconds, args.connections)
        sqlite_env = env_for(work, NBREC_WAREHOUSE=str(work / "wh-sqlite"),
                             NBREC_EVENTS_URL=f"sqlite:///{work / 'loss.sqlite'}")  # fmt: skip
        out["loss_sqlite"] = loss(work, sqlite_env, args.loss_events)
        print("loss sqlite", out["loss_sqlite"], flush=True)
        port, rdir = free_port(), work / "redis"
        rdir.mkdir()
        holder = {"proc": redis_server(rdir, port)}

        def restart() -> None:
            holder["proc"].wait()
            holder["proc"] = redis_server(rdir, port)

        redis_env = env_for(work, NBREC_WAREHOUSE=str(work / "wh-redis"),
                            NBREC_EVENTS_URL=f"redis://127.0.0.1:{port}/0")  # fmt: skip
        try:
            out["loss_redis"] = loss(work, redis_env, args.loss_events, holder["proc"], restart)
        finally:
            holder["proc"].kill()
        print("loss redis", out["loss_redis"], flush=True)
    out["uptime_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
