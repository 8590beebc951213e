"""The RR log disk full or unwritable: requests are still served; dropped lines are counted
(``nbrec_log_lines_dropped_total``) and alerted on (deploy/prometheus/rules/alerts.yml)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import httpx
import pytest
import yaml

from nbrec.pipeline.publish import publish
from tests.conftest import ROOT
from tests.reliability.conftest import sqlite_url
from tests.reliability.test_faults import metric
from tests.serving.server import running_service

# Runs in a child process whose file-size limit is 8 KiB: every write past it fails with
# EFBIG, exactly as a full disk fails with ENOSPC (the limit needs no root, unlike a tmpfs).
FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys, time
    from nbrec.rrlog.writer import RRLogger
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
    log = RRLogger(sys.argv[1], user_ids="plain", salt="")
    for n in range(600):  # in bursts, so the writer writes many small chunks
        log.log({"kind": "request", "n": n, "user_id": f"u{n}"})
        if n % 10 == 9:
            time.sleep(0.06)
    log.close()
    print(json.dumps({"written": log.written, "dropped": log.dropped}))
""")


def test_full_log_disk_drops_and_counts_lines(tmp_path):
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    on_disk = sum(len(f.read_text().splitlines()) for f in tmp_path.glob("rr-*.jsonl"))
    assert counts["dropped"] > 0 and counts["written"] > 0
    assert counts["written"] + counts["dropped"] == 600  # every line accounted for
    assert on_disk >= counts["written"]  # a line counted written is on disk
    assert "RR log write failed" in out.stderr


@pytest.mark.service
def test_unwritable_log_dir_still_serves_and_counts(tmp_path, item_knn, small_data):
    (tmp_path / "var").mkdir()
    url = sqlite_url(tmp_path)
    publish(item_knn, "v1", url, items=small_data.items)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    with running_service(tmp_path, url, {"NBREC_LOG_DIR": str(blocker)}) as base:
        users = [str(u) for u in item_knn.user_ids_[:20]]
        with httpx.Client(base_url=base, timeout=5) as c:
            statuses = {c.post("/recommend", json={"user_id": u, "k": 5}).status_code
                        for u in users * 5}  # fmt: skip
            feedback = c.post("/feedback", json={"user_id": users[0], "item_id": "i001",
                                                 "event": "click"})  # fmt: skip
        assert statuses == {200} and feedback.status_code == 200
        deadline_metric = 0.0
        for _ in range(40):  # the writer runs every 50 ms
            deadline_metric = metric(base, "nbrec_log_lines_dropped_total")
            if deadline_metric >= 101:
                break
            httpx.get(f"{base}/healthz")
        assert deadline_metric >= 101  # 100 requests + 1 feedback, none written


def test_dropped_lines_have_an_alert():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/alerts.yml").read_text())
    exprs = [r.get("expr", "") for g in rules["groups"] for r in g["rules"]]
    assert any("nbrec_log_lines_dropped_total" in e for e in exprs)
