"""The scale pipeline at the benchmark's small size (10k users, 5k items, 200k events), in
process: choice on a user sample within the memory budget, the champion fitted on everyone,
scoring in shards, publish into SQLite. The medium and large sizes run end to end through
``nbrec train`` in ``make bench-scale`` (benchmarks/scale)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from nbrec.constants import USER_COL
from nbrec.data.synthetic import generate
from nbrec.models.memory import MemoryBudget
from nbrec.pipeline import candidates, scoring
from nbrec.pipeline.publish import publish
from nbrec.store import open_store

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "scale" / "bench_scale.py"


@pytest.fixture(scope="module")
def small():
    users, items, events = 10_000, 5_000, 200_000
    return generate(users=users, items=items, interactions=events, seed=7)


def test_small_size_end_to_end_within_its_budget(small, tmp_path):
    rss_before = psutil.Process().memory_info().rss
    budget = MemoryBudget.from_gb(4)
    sample = candidates.selection_sample(small, 2_000)
    assert sample.interactions[USER_COL].nunique() == 2_000
    split = candidates.validation_split(sample)
    chosen = candidates.choose_candidate("popularity,als,item_knn", split, sample, budget=budget)
    assert set(chosen.tried) | set(chosen.skipped) == {"popularity", "als", "item_knn"}
    assert chosen.tried[chosen.model] > chosen.tried["popularity"]  # personalised wins
    chosen = candidates.settle_final(chosen, small, budget)
    model = candidates.fit_final(chosen, small, budget)
    n_users = small.interactions[USER_COL].nunique()
    assert len(model.user_ids_) == n_users  # fitted on everyone, not on the sample

    rows = np.arange(n_users)
    parts = [scoring.score_rows(model, shard, 20) for shard in scoring.shards(rows, 2_500)]
    ranked = scoring.ranked_table(model, parts)
    recs = ranked.top_k_frame(10)
    assert recs[USER_COL].nunique() == n_users and len(recs) == 10 * n_users

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    summary = publish(model, "small-v1", url, small.items, top_n=20, ranked=ranked)
    assert summary["users"] == n_users
    store = open_store(url)
    try:
        assert store.live_version() == "small-v1"
        some = [str(u) for u in model.user_ids_[:: n_users // 7]]
        assert all(
            r is not None and len(r[0]) == 20 for r in store.user_recs_many("small-v1", some)
        )
        back = store.user_recs_top_k("small-v1", ranked.user_ids, 10)  # published as scored
        pd.testing.assert_frame_equal(back, recs)
    finally:
        store.close()
    grown = (psutil.Process().memory_info().rss - rss_before) / 2**30
    assert grown < 4, f"the small size grew the process by {grown:.1f} GiB"


def load_bench(name: str = "bench_scale"):
    spec = importlib.util.spec_from_file_location(name, BENCH.with_name(f"{name}.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_reads_stage_times_from_prefects_database(tmp_path):
    with sqlite3.connect(tmp_path / "prefect.db") as con:
        con.execute("CREATE TABLE task_run (name TEXT, start_time TEXT, end_time TEXT)")
        con.executemany("INSERT INTO task_run VALUES (?, ?, ?)", [
            ("choose-989", "2026-12-01 10:11:20.000000", "2026-12-01 10:12:20.500000"),
            ("score_shard-1", "2026-12-01 10:13:00.000000", "2026-12-01 10:13:05.000000"),
            ("score_shard-2", "2026-12-01 10:13:01.000000", "2026-12-01 10:13:07.000000"),
            ("validate_recommendations-1", "2026-12-01 10:14:00.000000", "2026-12-01 10:14:02.000000"),
            ("validate_recommendations-2", "2026-12-01 10:20:00.000000", "2026-12-01 10:20:03.000000"),
        ])  # fmt: skip
    stages = load_bench().stage_seconds_db(tmp_path)
    # parallel shards: first start to last end; two runs of one task: their sum
    assert stages == {"choose": 60.5, "score_shard": 7.0, "validate_recommendations": 5.0}


def test_bench_reads_stage_times_from_the_flow_log():
    bench = load_bench()
    log = "\n".join([
        "10:00:06.500 | INFO    | Task run 'take_snapshot-38e' - Finished in state Completed()",
        "10:01:10.500 | INFO    | Task run 'validate_inputs-662' - Finished in state Completed()",
        "10:01:20.000 | INFO    | Task run 'score_shard-1' - Finished in state Completed()",
        "10:01:25.000 | INFO    | Task run 'score_shard-2' - Finished in state Completed()",
    ])  # fmt: skip
    stages = bench.stage_seconds(log)
    assert stages["validate_inputs"] == pytest.approx(64.0)
    assert stages["score_shard"] == pytest.approx(14.5)
    assert (
        bench.exponent({"events": 10, "x": 1.0}, {"events": 100, "x": 10.0}, lambda r: r["x"])
        == 1.0
    )


def test_bench_reads_the_stage_line_nbrec_train_prints():
    log = "other\ntrain stages (s): take_snapshot 1.6, validate_inputs 14.2, score_shard 60.0\n"
    assert load_bench().stage_seconds_printed(log) == {
        "take_snapshot": 1.6, "validate_inputs": 14.2, "score_shard": 60.0,
    }  # fmt: skip


def test_bench_keeps_older_runs_as_history_and_says_when_there_was_no_cap(tmp_path):
    record = load_bench("scale_record")
    run = {"size": "medium", "users": 1, "items": 1, "events": 10, "cap_gib": 8.0,
           "load_before": [0.0] * 3, "load_after": [1.0] * 3, "date": "2026-12-01 17:46 UTC",
           "train": {"seconds": 100.0, "peak_rss_gib": 1.5, "returncode": 0, "stages": {}}}  # fmt: skip
    record.keep(tmp_path, "medium", run)
    uncapped = {**run, "cap_gib": None, "date": "2026-12-01 20:50 UTC"}
    record.keep(tmp_path, "medium", uncapped)
    assert json.loads((tmp_path / "medium.json").read_text())["cap_gib"] is None
    (old,) = (tmp_path / "history").glob("medium-*.json")
    assert json.loads(old.read_text())["cap_gib"] == 8.0
    line = record.row(uncapped, "(newest)")
    assert "| none |" in line and "**met**" in line
    slow = {**uncapped, "train": {**uncapped["train"], "seconds": 400.0}}
    assert "**not met**" in record.row(slow, "(newest)")
