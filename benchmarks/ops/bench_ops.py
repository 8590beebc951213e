"""Ops benchmark: how fast alerts detect trouble, and what monitoring costs the service.

1. Detection time: for each answer-quality/outage alert, promtool evaluates the real rules on a
   series that turns bad at minute 30 and reports the first minute the alert fires (goal of
   issue 6: someone knows within the hour).
2. Request-path cost of feeding scores to the score-shift monitor, as a ratio to one counter
   increment (what the service already pays per answer), measured in the same run.
3. Scrape cost of /metrics with the ops collectors vs the service's own metrics alone.
4. The product report (DuckDB over RR logs) vs just loading the same logs with pandas.

    .venv/bin/python benchmarks/ops/bench_ops.py [--events 200000]

Writes benchmarks/ops/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import tempfile
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from prometheus_client import generate_latest

from nbrec.monitoring import product_metrics, register_collectors
from nbrec.monitoring.fake_logs import write_fake_logs
from nbrec.serving.prometheus import ServingMetrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
BAD_FROM = 30  # minute the series turn bad
JOB = 'job="nbrec",instance="svc:3000"'
REC = f'nbrec_recommendations_total{{{JOB},model_version="v1",variant="none",fallback="none"}}'
# alert -> input series (promtool expanding notation; 60 answers a minute throughout)
SCENARIOS = {
    "NbrecEmptyRecommendationsHigh": [
        (REC, "0+60x120"),
        (f'nbrec_empty_recommendations_total{{{JOB},model_version="v1"}}', f"0x{BAD_FROM} 6+6x90"),
    ],
    "NbrecNullScoresHigh": [
        (REC, "0+60x120"),
        (f'nbrec_null_scores_total{{{JOB},model_version="v1"}}', f"0x{BAD_FROM} 3+3x90"),
    ],
    "NbrecErrorRateHigh": [
        (f'nbrec_requests_total{{{JOB},endpoint="/recommend",status="200"}}', "0+60x120"),
        (f'nbrec_requests_total{{{JOB},endpoint="/recommend",status="500"}}', f"0x{BAD_FROM} 3+3x90"),
    ],
    "NbrecServiceDown": [(f"up{{{JOB}}}", f"1x{BAD_FROM} 0x90")],
    "NbrecNoTraffic": [
        (f"up{{{JOB}}}", "1x120"),
        (f'nbrec_requests_total{{{JOB},endpoint="/recommend",status="200"}}',
         f"0+60x{BAD_FROM} {60 * BAD_FROM}x90"),
    ],
}  # fmt: skip


def detection_minutes(alert: str, series: list[tuple[str, str]], workdir: Path) -> int | None:
    """First minute after BAD_FROM at which promtool reports the alert firing."""
    checks = [
        {"eval_time": f"{m}m", "alertname": alert, "exp_alerts": []} for m in range(BAD_FROM, 121)
    ]
    case = {"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
            "alert_rule_test": checks}  # fmt: skip
    spec = {"rule_files": [str(RULES / "recording.yml"), str(RULES / "alerts.yml")],
            "evaluation_interval": "1m", "tests": [case]}  # fmt: skip
    path = workdir / f"{alert}.yml"
    path.write_text(yaml.safe_dump(spec))
    out = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    times = re.findall(rf"alertname: {alert}, time: ([0-9hms]+),", out.stdout + out.stderr)
    fired = [minutes(t) for t in times]
    return min(fired) - BAD_FROM if fired else None


def minutes(duration: str) -> int:
    """promtool's Go duration (``1h5m``, ``45m``) in minutes."""
    parts = {unit: int(n) for n, unit in re.findall(r"(\d+)([hms])", duration)}
    return parts.get("h", 0) * 60 + parts.get("m", 0)


def per_call_ns(stmt, number: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="approximate RR log lines")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    lines = []

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        detect = {
            alert: detection_minutes(alert, series, tmp) for alert, series in SCENARIOS.items()
        }

        # Request-path cost: observe() of one answer's 10 scores vs one counter increment.
        metrics = ServingMetrics(process=False)
        status = tmp / "pipeline.json"
        status.write_text(json.dumps({"last_success_at": "2026-11-29T00:00:00Z",
                                      "runs": {"completed": 3}, "last_run": {"status": "completed"},
                                      "validation": {"interactions": {"success": True,
                                                     "failed_expectations": []}}}))  # fmt: skip
        bare = generate_latest(metrics.registry)
        child = metrics.child(metrics.recommendations, "v1", "none", "none")
        scores = list(np.linspace(1, 0, 10))
        inc_ns = per_call_ns(child.inc, 200_000)
        scrape_bare_us = per_call_ns(lambda: generate_latest(metrics.registry), 2_000) / 1e3
        monitoring = register_collectors(metrics.registry, status_path=status)
        observe_ns = per_call_ns(lambda: monitoring.observe_scores("v1", scores), 100_000)
        scrape_ops_us = per_call_ns(lambda: generate_latest(metrics.registry), 300) / 1e3
        assert len(generate_latest(metrics.registry)) > len(bare)

        # Report: DuckDB summary vs pandas just reading the same JSON lines.
        users = max(50, args.events // 7)  # ~7 log lines per user over 14 days
        write_fake_logs(tmp / "logs", users=users, days=14, seed=1)
        files = sorted((tmp / "logs").glob("rr-*.jsonl"))
        n_lines = sum(1 for f in files for _ in f.open())
        start = time.perf_counter()
        pd.concat([pd.read_json(f, lines=True) for f in files])
        pandas_s = time.perf_counter() - start
        start = time.perf_counter()
        product_metrics.summary(product_metrics.open_logs(tmp / "logs"))
        report_s = time.perf_counter() - start

    lines += [
        "# Ops benchmark results",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `.venv/bin/python benchmarks/ops/bench_ops.py --events {args.events}`",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.platform()}, Python {platform.python_version()}; 1-minute load average at "
        f"start {load:.2f} (shared with other engineers' runs)",
        "",
        f"## Time to detect (promtool on the real rules; series turn bad at minute {BAD_FROM}, "
        "60 answers/min)",
        "",
        "| alert | bad series | fires after | goal |",
        "|---|---|---:|---|",
    ]
    what = {"NbrecEmptyRecommendationsHigh": "10% empty answers",
            "NbrecNullScoresHigh": "5% null scores", "NbrecErrorRateHigh": "5% 5xx",
            "NbrecServiceDown": "scrapes fail", "NbrecNoTraffic": "requests stop"}  # fmt: skip
    for alert, minutes in detect.items():
        shown = f"{minutes} min" if minutes is not None else "never (!)"
        lines.append(f"| {alert} | {what[alert]} | {shown} | within 60 min |")
    lines += [
        "",
        "## Cost to the service",
        "",
        "| measure | value | reference (same run) | ratio |",
        "|---|---:|---:|---:|",
        f"| score-shift observe() per answer (k=10) | {observe_ns:,.0f} ns | counter inc "
        f"{inc_ns:,.0f} ns | {observe_ns / inc_ns:.1f}x |",
        f"| /metrics render with ops collectors (status file + PSI/KS on a full window) | "
        f"{scrape_ops_us:,.0f} us | service metrics alone {scrape_bare_us:,.0f} us | "
        f"{scrape_ops_us / scrape_bare_us:.1f}x |",
        "",
        "## Product report",
        "",
        "| measure | value | reference (same run) | ratio |",
        "|---|---:|---:|---:|",
        f"| DuckDB summary (all metrics, all groups) over {n_lines:,} RR log lines | "
        f"{report_s:.2f} s | pandas read_json of the same files {pandas_s:.2f} s | "
        f"{report_s / pandas_s:.2f}x |",
        "",
    ]
    text = "\n".join(lines)
    (Path(__file__).parent / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
