"""The selection's time budget: a candidate whose fit, estimated from the data's shape, does
not fit in what is left is skipped before it is fitted, with the reason.

The rule is checked on small shapes with the machine made slower (``FLOPS_PER_SECOND``);
the models themselves are real and fitted whenever they are admitted."""

from __future__ import annotations

import pytest

from nbrec.data.schema import Dataset
from nbrec.models import cost, get_model_class
from nbrec.models.cost import fit_seconds
from nbrec.models.memory import DataShape
from nbrec.pipeline import candidates
from nbrec.settings import Settings
from tests.conftest import checkerboard

# The medium size's selection data (10,000 of 100,000 users, seed 7: 15,850 items touched)
# and its full data (benchmarks/scale, `nbrec data generate --users 100000 --items 20000`).
MEDIUM_SAMPLE = DataShape(10_000, 15_850, 122_026, 3_096_868)
MOVIELENS_100K = DataShape(943, 1_682, 80_000, 2_828_000)


@pytest.fixture
def board():
    data = Dataset("board", checkerboard())
    return data, candidates.validation_split(data)


def slow_machine(monkeypatch, shape: DataShape, seconds: float) -> None:
    """Make one EASE fit on ``shape`` take ``seconds`` by the estimate."""
    flops = get_model_class("ease").fit_flops(shape, {})
    monkeypatch.setattr(cost, "FLOPS_PER_SECOND", flops / seconds)


def test_a_model_estimated_over_what_is_left_is_skipped_before_its_fit(board, monkeypatch):
    data, split = board
    slow_machine(monkeypatch, DataShape.of(split.train), 1_000.0)
    chosen = candidates.choose_candidate("ease,edlae,popularity", split, data, time_budget_s=60)
    assert list(chosen.tried) == ["popularity"]  # cheapest first; never skipped for time
    for name in ("ease", "edlae"):
        reason = chosen.skipped[name]
        assert "estimated at 1000 s (one fit)" in reason, reason
        assert "s left of the selection budget (NBREC_SELECTION_MINUTES=1)" in reason
        assert "40 users x 20 items" in reason
    # without a time budget (or named alone) EASE is fitted, the real model
    alone = candidates.choose_candidate("ease", split, data, time_budget_s=60)
    assert list(alone.tried) == ["ease"] and alone.tried["ease"] > 0
    free = candidates.choose_candidate("ease,popularity", split, data)
    assert set(free.tried) == {"ease", "popularity"} and not free.skipped


def test_tuning_counts_every_trial(board, monkeypatch):
    data, split = board
    slow_machine(monkeypatch, DataShape.of(split.train), 10.0)  # one fit: 10 s of 60
    once = candidates.choose_candidate("popularity,ease", split, data, time_budget_s=60)
    assert "ease" in once.tried and not once.skipped
    tuned = candidates.choose_candidate("popularity,ease", split, data, tune_params=True,
                                        time_budget_s=60)  # fmt: skip
    assert list(tuned.tried) == ["popularity"]
    assert f"x {candidates.TUNING_TRIALS} tuning trials" in tuned.skipped["ease"]


def test_a_blend_is_skipped_when_its_linear_member_is_too_dear(board, monkeypatch):
    data, split = board
    slow_machine(monkeypatch, DataShape.of(split.train), 100.0)
    chosen = candidates.choose_candidate("popularity,blend", split, data, time_budget_s=150)
    # its members ease (100 s estimated), als and lightfm (no estimate), fitted twice: 200 s
    assert list(chosen.tried) == ["popularity"]
    assert "its members' fits, twice" in chosen.skipped["blend"]


def test_every_linear_autoencoder_has_an_estimate():
    for name in ("ease", "edlae", "time_ease"):
        assert fit_seconds(get_model_class(name), MEDIUM_SAMPLE) > 0, name
    blend = candidates.estimated_seconds("blend", {}, MEDIUM_SAMPLE)  # ease, als, lightfm
    assert blend == pytest.approx(2 * fit_seconds(get_model_class("ease"), MEDIUM_SAMPLE))


def test_the_default_budget_leaves_the_ease_family_out_at_medium_size_on_any_machine():
    """From the shape alone: each EASE-family fit on the medium size's selection sample is
    estimated above the whole default budget (so skipped whatever the cheap models took);
    on MovieLens-100k each takes a small part of it."""
    budget = Settings().selection_minutes * 60
    for name in ("ease", "edlae", "time_ease"):
        assert fit_seconds(get_model_class(name), MEDIUM_SAMPLE) > budget, name
        assert fit_seconds(get_model_class(name), MOVIELENS_100K) < budget / 20, name


def test_the_final_fit_is_estimated_from_the_whole_datas_shape(board, monkeypatch):
    """EASE's cost is not linear in the interactions: its shape estimate counts too."""
    data, split = board
    full = DataShape.of(data.interactions)
    chosen = candidates.Candidate(
        "ease", {}, 0.9, {"ease": 0.9, "popularity": 0.5}, recipes={"ease": {}, "popularity": {}},
        fit_seconds={"ease": 0.01, "popularity": 0.01}, selection_nnz=full.nnz,
    )  # fmt: skip
    assert candidates.settle_final(chosen, data, fit_budget_s=50.0).model == "ease"
    slow_machine(monkeypatch, full, 100.0)
    settled = candidates.settle_final(chosen, data, fit_budget_s=50.0)
    assert settled.model == "popularity"
    assert "estimated at 100 s from the data's shape" in settled.skipped["ease"]


def test_every_auto_candidate_has_its_place_in_the_order_of_trial():
    """A model missing from CHEAP_FIRST would be tried after the blend, whatever its cost: the
    selection budget would then drop it first (time_ease once was, on ML-latest-small)."""
    names = candidates.candidate_names("auto")
    assert sorted(names) == sorted(candidates.CHEAP_FIRST), set(names) ^ set(candidates.CHEAP_FIRST)
    order = sorted(names, key=candidates.CHEAP_FIRST.get)
    assert order[-1] == "blend" and order.index("time_ease") < order.index("lightfm")
