"""Tuning: Optuna on the validation split, never the test split; budgets and progress."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nbrec.constants import ITEM_COL
from nbrec.data import deduplicate, split
from nbrec.data.splits import Split
from nbrec.evaluation import leaderboard, run_leaderboard
from nbrec.evaluation.tuning import fit_and_score, tune
from nbrec.models import cost


@pytest.fixture
def data_split(tiny_synthetic) -> Split:
    return split(deduplicate(tiny_synthetic.interactions))


def corrupted(s: Split, seed: int = 7) -> Split:
    """The same split with every test label replaced by a random catalogue item."""
    test = s.test.copy()
    items = s.train[ITEM_COL].unique()
    test[ITEM_COL] = np.random.default_rng(seed).choice(items, size=len(test))
    return Split(s.train, test, s.sub_train, s.validation, s.protocol)


@pytest.mark.parametrize("model", ["ease", "rp3beta"])
def test_tuning_never_reads_the_test_split(data_split, model):
    best, trials = tune(model, data_split, k=10, max_trials=6)
    best_bad, trials_bad = tune(model, corrupted(data_split), k=10, max_trials=6)
    assert best == best_bad
    assert trials.drop(columns="seconds").equals(trials_bad.drop(columns="seconds"))
    # and the corruption is real: the test figure of the chosen model does change
    good = fit_and_score(model, best, data_split)
    bad = fit_and_score(model, best, corrupted(data_split))
    assert good != bad


def test_ease_session_trials_equal_separate_fits(data_split):
    """A trial through EASE's one-eigendecomposition session scores as a fresh fit would."""
    best, trials = tune("ease", data_split, k=10, max_trials=5)
    top = trials[trials["state"] == "complete"].iloc[0]
    direct = fit_and_score("ease", best, data_split.tuning())
    assert top["ndcg@10"] == pytest.approx(direct, abs=1e-6)


@pytest.mark.parametrize("budget", [0.0, 1e-3])
def test_time_budget_stops_tuning(data_split, budget):
    best, trials = tune("rp3beta", data_split, k=10, max_trials=50, time_budget=budget)
    assert len(trials) == 1 and trials["state"].iloc[0] == "complete"  # the defaults, only
    assert best == {"alpha": 0.8, "beta": 0.5, "neighbours": 300}


def test_progress_says_each_trial(data_split):
    lines = []
    tune("item_knn", data_split, k=10, max_trials=4, progress=lines.append)
    assert len(lines) == 4
    assert lines[0].startswith("tune item_knn trial 1/4: neighbours=") and "ndcg@10" in lines[0]


def test_leaderboard_blend_gets_tuned_members_and_runs_last(tiny_synthetic):
    lines = []
    board = run_leaderboard(
        tiny_synthetic, "blend,ease,rp3beta", max_trials=3, progress=lines.append
    )
    assert lines[0] == "leaderboard 1/3: ease"
    params = json.loads(board.table.set_index("model").loc["blend", "params"])
    assert set(params["member_params"]) == {"ease"}  # the members in this run, tuned
    assert abs(sum(params["weights"].values()) - 1) < 1e-9  # learned on the validation split
    assert {"tuning_seconds", "trials"} <= set(board.table.columns)


def test_leaderboard_blend_reuses_its_members_final_fits(tiny_synthetic):
    """The members were fitted on train by the leaderboard with the same parameters: the
    blend's final fit uses those models, it does not fit them again."""
    board = run_leaderboard(tiny_synthetic, "blend,ease,als,lightfm", max_trials=1, progress=False)
    members = board.models["blend"].members_
    assert members and all(member is board.models[name] for name, member in members.items())


def test_leaderboard_blend_takes_the_best_linear_autoencoder_by_validation(tiny_synthetic):
    board = run_leaderboard(tiny_synthetic, "blend,ease,edlae,als", max_trials=2, progress=False)
    table = board.table.set_index("model")
    best = table.loc[["ease", "edlae"], "validation_ndcg@10"].idxmax()
    params = json.loads(table.loc["blend", "params"])
    assert params["members"] == f"{best},als,lightfm"
    assert set(params["member_params"]) == {best, "als"}  # lightfm did not run: its defaults


def test_cli_json_keeps_stdout_clean_and_reports_progress_on_stderr(tmp_path):
    out = tmp_path / "synthetic"
    subprocess.run([sys.executable, "-m", "nbrec", "data", "generate", "--users", "150",
                    "--items", "60", "--interactions", "2500", "--out", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "nbrec", "leaderboard", "--dataset", str(out), "--models",
         "popularity,ease", "--format", "json", "--time-budget", "30", "--max-trials", "3"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = json.loads(done.stdout)
    assert {r["model"] for r in rows} == {"popularity", "ease"}
    assert "leaderboard 2/2: ease" in done.stderr and "tune ease trial 1/3" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "nbrec", "leaderboard", "--time-budget", "0"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--time-budget must be > 0" in bad.stdout + bad.stderr


def test_leaderboard_skips_a_model_too_dear_for_its_share_and_says_why(tiny_synthetic, monkeypatch):
    """time_ease's estimated fits (on a machine made 10^7 times slower) exceed its share of
    a small budget: it runs last and is skipped with the reason (progress and protocol);
    models without an estimate still run. Without a budget nothing is skipped."""
    monkeypatch.setattr(cost, "FLOPS_PER_SECOND", 1e3)
    lines = []
    board = run_leaderboard(tiny_synthetic, "time_ease,popularity", max_trials=2,
                            progress=lines.append, time_budget=60.0)  # fmt: skip
    assert list(board.table["model"]) == ["popularity"]
    reason = board.protocol["skipped"]["time_ease"]
    assert "is estimated at" in reason and "share of the time budget" in reason
    assert lines[0] == "leaderboard 1/2: popularity"  # the dear model last
    assert any(line.startswith("leaderboard 2/2: time_ease skipped: its cost (a tuning trial")
               for line in lines)  # fmt: skip
    unbounded = run_leaderboard(tiny_synthetic, "time_ease", max_trials=1, progress=False)
    assert list(unbounded.table["model"]) == ["time_ease"] and unbounded.protocol["skipped"] == {}
    with pytest.raises(ValueError, match="every model was skipped"):
        run_leaderboard(tiny_synthetic, "time_ease", max_trials=1, progress=False, time_budget=60)


def test_leaderboard_skips_a_blend_whose_members_took_longer_than_the_budget_left(
    tiny_synthetic, monkeypatch
):
    """The blend (last) costs its members' measured fits once more: skipped when that exceeds
    what is left of the budget. (EASE's estimate here is ~2 ms, the blend's members take
    more than 0.05 s: only the blend crosses the lowered floor.)"""
    monkeypatch.setattr(leaderboard, "NEGLIGIBLE_SECONDS", 0.05)
    lines = []
    board = run_leaderboard(tiny_synthetic, "blend,ease,als,lightfm", max_trials=1,
                            progress=lines.append, time_budget=1e-3)  # fmt: skip
    assert "blend" not in set(board.table["model"]) and len(board.table) == 3
    assert "each member fitted once more" in board.protocol["skipped"]["blend"]
    assert lines[-1].startswith("leaderboard 4/4: blend skipped: its cost")
