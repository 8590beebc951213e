"""Pipeline/data health and score-shift collectors, read back through the Prometheus text format."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nbrec.monitoring import (
    PipelineStatusCollector,
    ScoreShiftMonitor,
    ks,
    psi,
    register_collectors,
    save_score_reference,
)

SUCCESS_AT = "2026-11-28T03:00:00+00:00"
STATUS = {
    "last_run": {"flow_run": "fr-1", "status": "failed", "started_at": "2026-11-29T03:00:00Z",
                 "finished_at": "2026-11-29T03:05:00Z", "version": None, "reason": "notebook 05 failed"},
    "last_success_at": SUCCESS_AT,
    "runs": {"completed": 4, "rejected": 1, "failed": 2},
    "validation": {
        "interactions": {"success": False, "failed_expectations": ["a", "b", "c"],
                         "report": "var/x.html", "at": "2026-11-29T03:01:00Z"},
        "items": {"success": True, "failed_expectations": [], "report": "var/y.html",
                  "at": "2026-11-29T03:01:00Z"},
    },
}  # fmt: skip


def scrape(*collectors) -> dict[tuple[str, tuple], float]:
    """Register on a fresh registry, render the exposition text, parse it back."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return scrape_registry(registry)


def scrape_registry(registry) -> dict:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_pipeline_status_file_becomes_metrics(tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(STATUS))
    got = scrape(PipelineStatusCollector(path))
    assert got[("nbrec_pipeline_status_up", ())] == 1
    expected = datetime(2026, 11, 28, 3, tzinfo=UTC).timestamp()
    assert got[("nbrec_training_last_success_timestamp_seconds", ())] == expected
    assert got[("nbrec_training_runs_total", (("status", "completed"),))] == 4
    assert got[("nbrec_training_runs_total", (("status", "failed"),))] == 2
    assert got[("nbrec_training_last_run_failed", ())] == 1
    assert got[("nbrec_data_validation_success", (("suite", "interactions"),))] == 0
    assert got[("nbrec_data_validation_success", (("suite", "items"),))] == 1
    assert got[("nbrec_data_validation_failed_expectations", (("suite", "interactions"),))] == 3
    assert got[("nbrec_data_validation_failed_expectations", (("suite", "items"),))] == 0


def test_a_new_status_file_is_read_at_the_next_scrape(tmp_path):
    path = tmp_path / "pipeline.json"
    collector = PipelineStatusCollector(path)
    assert scrape(collector) == {("nbrec_pipeline_status_up", ()): 0}  # no file yet
    fresh = {**STATUS, "last_run": {**STATUS["last_run"], "status": "completed"}}
    path.write_text(json.dumps(fresh))
    assert scrape(collector)[("nbrec_training_last_run_failed", ())] == 0


@pytest.mark.parametrize("content", ["{not json", json.dumps({"runs": "many", "validation": 3})])
def test_a_broken_status_file_never_breaks_the_scrape(tmp_path, content):
    path = tmp_path / "pipeline.json"
    path.write_text(content)
    got = scrape(PipelineStatusCollector(path))
    assert ("nbrec_pipeline_status_up", ()) in got


def test_status_path_follows_nbrec_var_dir(tmp_path, monkeypatch):
    from nbrec.settings import get_settings

    monkeypatch.setenv("NBREC_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        (tmp_path / "status").mkdir()
        (tmp_path / "status" / "pipeline.json").write_text(json.dumps(STATUS))
        assert scrape(PipelineStatusCollector())[("nbrec_pipeline_status_up", ())] == 1
    finally:
        get_settings.cache_clear()


def test_psi_matches_a_hand_computed_case():
    # Two bins split at the reference median; all actual values fall in the lower bin.
    expected = np.arange(100.0)
    actual = np.full(50, 10.0)
    e, a = np.array([0.5, 0.5]), np.array([1.0, 1e-6])
    by_hand = float(np.sum((a - e) * np.log(a / e)))
    assert psi(expected, actual, bins=2) == pytest.approx(by_hand)
    assert psi(expected, expected, bins=10) == pytest.approx(0.0, abs=1e-9)


def test_psi_and_ks_separate_same_from_shifted_distributions():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    same, shifted = rng.normal(0, 1, 5000), rng.normal(1, 1, 5000)
    assert psi(reference, same) < 0.02 < 0.25 < psi(reference, shifted)
    assert ks(reference, same) < 0.05 and ks(reference, shifted) > 0.3
    assert ks(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0


def test_psi_refuses_empty_input_with_a_message():
    with pytest.raises(ValueError, match="non-empty"):
        psi(np.array([np.nan]), np.array([1.0]))


def test_score_shift_against_the_first_served_window_then_the_training_reference(tmp_path):
    rng = np.random.default_rng(1)
    monitor = ScoreShiftMonitor(window=1000, min_samples=200, reference_loader=lambda v: None)
    assert scrape(monitor) == {}  # nothing observed yet: no series at all
    for _ in range(100):
        monitor.observe("v1", rng.normal(0, 1, 10).tolist())
    quiet = scrape(monitor)
    key = (
        "nbrec_score_shift",
        (("method", "psi"), ("model_version", "v1"), ("reference", "first_served")),
    )
    assert quiet[key] < 0.05
    for _ in range(100):  # the window now holds only shifted scores, plus None/NaN to ignore
        monitor.observe("v1", [*rng.normal(2, 1, 10).tolist(), None, math.nan])
    assert scrape(monitor)[key] > 0.25

    save_score_reference("v2", rng.normal(2, 1, 2000), directory=tmp_path)
    from nbrec.monitoring.model_health import load_score_reference

    trained = ScoreShiftMonitor(
        window=1000, reference_loader=lambda v: load_score_reference(v, tmp_path)
    )
    for _ in range(50):
        trained.observe("v2", rng.normal(2, 1, 10).tolist())
    got = scrape(trained)
    assert (
        got[
            (
                "nbrec_score_shift",
                (("method", "psi"), ("model_version", "v2"), ("reference", "training")),
            )
        ]
        < 0.05
    )


def test_score_shift_forgets_old_versions():
    monitor = ScoreShiftMonitor(max_versions=2, reference_loader=lambda v: None)
    for version in ("a", "b", "c"):
        monitor.observe(version, [1.0])
    assert monitor.shift("a") is None and set(monitor._recent) == {"b", "c"}


def test_register_collectors_exports_both_on_the_services_registry(tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(STATUS))
    registry = CollectorRegistry()
    monitoring = register_collectors(registry, status_path=path)
    for _ in range(30):
        monitoring.observe_scores("v1", list(np.linspace(0, 1, 10)))
    text = generate_latest(registry).decode()
    assert "nbrec_training_last_success_timestamp_seconds" in text
    assert 'nbrec_score_shift{method="psi",model_version="v1",reference="first_served"}' in text


def test_reads_the_file_the_pipeline_writes(tmp_path):
    # Contract with nbrec.pipeline.status (the writer): its own functions produce the file.
    from nbrec.pipeline import status

    path = tmp_path / "pipeline.json"
    status.record_validation(
        {"items": {"success": False, "failed_expectations": ["x", "y"], "report": "r",
                   "at": status.now_iso()}}, path
    )  # fmt: skip
    status.record_run("fr-1", "completed", status.now_iso(), version="v1", path=path)
    status.record_run("fr-2", "failed", status.now_iso(), reason="boom", path=path)
    got = scrape(PipelineStatusCollector(path))
    assert got[("nbrec_training_runs_total", (("status", "completed"),))] == 1
    assert got[("nbrec_training_runs_total", (("status", "failed"),))] == 1
    assert got[("nbrec_training_last_run_failed", ())] == 1
    last_success = got[("nbrec_training_last_success_timestamp_seconds", ())]
    assert abs(last_success - datetime.now(UTC).timestamp()) < 60
    assert got[("nbrec_data_validation_failed_expectations", (("suite", "items"),))] == 2


def test_training_reference_travels_with_the_version_in_the_feature_store(tmp_path, tiny_synthetic):
    # Publish stores a sample of the version's own top-k scores in its info.
    from nbrec.models import make_model
    from nbrec.monitoring import score_reference_from_recs, store_reference_loader
    from nbrec.pipeline.publish import build_tables
    from nbrec.store import open_store

    data = tiny_synthetic
    model = make_model("popularity").fit(data.interactions, data.items, data.users)
    tables = build_tables(model, "pop-1", data.items, top_n=20)
    assert tables.info["score_reference"] == score_reference_from_recs(tables.user_recs)
    tables.info["score_reference"] = score_reference_from_recs(tables.user_recs, k=10, size=500)
    assert len(tables.info["score_reference"]) == 500
    store = open_store(f"sqlite:///{tmp_path / 'features.db'}")
    try:
        store.write_version("pop-1", tables)
        registry = CollectorRegistry()
        monitoring = register_collectors(
            registry, status_path=tmp_path / "none.json",
            reference_loader=store_reference_loader(store),
        )  # fmt: skip
        for _items, scores in list(tables.user_recs.values())[:60]:  # serve what was published
            monitoring.observe_scores("pop-1", scores[:10])
        got = scrape_registry(registry)
        key = ("nbrec_score_shift", (("method", "psi"), ("model_version", "pop-1"),
                                     ("reference", "training")))  # fmt: skip
        assert got[key] < 0.1
        assert store_reference_loader(store)("unknown-version") is None
    finally:
        store.close()


def test_a_failing_reference_loader_does_not_break_the_scrape():
    def broken(version):
        raise ConnectionError("store down")

    monitor = ScoreShiftMonitor(min_samples=10, reference_loader=broken)
    monitor.observe("v1", list(np.linspace(0, 1, 50)))
    got = scrape(monitor)  # falls back to the first served window, and retries next time
    assert got[("nbrec_score_shift", (("method", "psi"), ("model_version", "v1"),
                                      ("reference", "first_served")))] < 0.01  # fmt: skip
    assert "v1" not in monitor._references
