"""The memory budget of a training run: estimates, refusals with figures, fallbacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbrec.data.schema import Dataset
from nbrec.models import available, get_model_class
from nbrec.models.cost import fit_seconds
from nbrec.models.memory import DataShape, MemoryBudget, MemoryBudgetError, fit_bytes
from nbrec.pipeline import candidates
from tests.conftest import checkerboard


def test_data_shape_counts_the_cooccurrence_bound():
    shape = DataShape.of(checkerboard())
    assert (shape.n_users, shape.n_items) == (40, 20)
    assert shape.nnz == len(checkerboard())
    assert shape.cooccurrence == min(40 * 6**2, 20 * 20)  # six items each, capped at items^2


def test_every_registered_model_has_an_estimate_that_grows_with_the_data():
    small = DataShape(1_000, 500, 20_000, 250_000)
    large = DataShape(1_000_000, 100_000, 20_000_000, 10**10)
    for name in available():
        cls = get_model_class(name)
        assert fit_bytes(cls, large) > fit_bytes(cls, small) > 0, name


def test_ease_at_100k_items_is_refused_before_it_allocates():
    shape = DataShape(1_000_000, 100_000, 20_000_000, 10**10)
    reason = candidates.too_large("ease", {}, shape, MemoryBudget.from_gb(16))
    assert reason and "100,000 items" in reason and "GiB" in reason
    assert candidates.too_large("als", {}, shape, MemoryBudget.from_gb(16)) is None


def test_choose_skips_what_does_not_fit_and_says_why():
    data = Dataset("board", checkerboard())
    split = candidates.validation_split(data)
    # A budget that admits the small models but not EASE's dense 20 x 20 arrays is hard to
    # build from real free memory; a tiny one refuses everything with figures instead.
    with pytest.raises(MemoryBudgetError, match=r"(?s)skipped: .*ease.*needs about"):
        candidates.choose_candidate("ease,popularity", split, data, budget=MemoryBudget(1))
    chosen = candidates.choose_candidate("als,popularity", split, data)
    assert set(chosen.tried) == {"als", "popularity"} and not chosen.skipped


def test_final_fit_falls_back_to_the_next_best_that_fits():
    data = Dataset("board", checkerboard())
    shape = DataShape.of(data.interactions)
    tight = MemoryBudget(limit_bytes=None)
    chosen = candidates.Candidate("ease", {}, 0.9, {"ease": 0.9, "popularity": 0.5},
                                  recipes={"ease": {}, "popularity": {}})  # fmt: skip
    settled = candidates.settle_final(chosen, data, tight)
    assert settled.model == "ease"  # it fits the machine
    need_pop = fit_bytes(get_model_class("popularity"), shape)
    need_ease = fit_bytes(get_model_class("ease"), shape)
    assert need_ease > need_pop

    class Between(MemoryBudget):
        def left(self) -> int:
            return (need_pop + need_ease) // 2

    settled = candidates.settle_final(chosen, data, Between())
    assert settled.model == "popularity" and "final fit" in settled.skipped["ease"]
    with pytest.raises(MemoryBudgetError, match="no candidate can be fitted"):
        candidates.settle_final(chosen, data, MemoryBudget(1))


def test_selection_sample_keeps_whole_users():
    data = Dataset("board", checkerboard())
    sample = candidates.selection_sample(data, 10)
    assert sample.interactions["user_id"].nunique() == 10
    per_user = data.interactions.groupby("user_id").size()
    assert (
        sample.interactions.groupby("user_id").size()
        == per_user[sample.interactions["user_id"].unique()]
    ).all()
    assert candidates.selection_sample(data, 0) is data


def test_address_space_limit_counts_in_what_is_left():
    """Under ``ulimit -v`` (prlimit --as) the budget is the limit, not the machine's memory."""
    code = (
        "import resource; from nbrec.models.memory import MemoryBudget; "
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY)); "
        "print(MemoryBudget().left())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 0 < int(out.stdout) < 3 * 2**30


def test_selection_time_budget_tries_the_cheapest_first_then_stops():
    data = Dataset("board", checkerboard())
    split = candidates.validation_split(data)
    chosen = candidates.choose_candidate("ease,als,popularity", split, data, time_budget_s=0.0)
    assert list(chosen.tried) == ["popularity"]
    assert set(chosen.skipped) == {"als", "ease"}
    assert "time budget" in chosen.skipped["ease"]


def test_final_fit_time_is_extrapolated_from_the_selection_sample():
    data = Dataset("board", checkerboard())  # 240 interactions
    chosen = candidates.Candidate(
        "lightfm", {}, 0.9, {"lightfm": 0.9, "als": 0.8}, recipes={"lightfm": {}, "als": {}},
        fit_seconds={"lightfm": 10.0, "als": 1.0}, selection_nnz=24,
    )  # fmt: skip
    settled = candidates.settle_final(chosen, data, fit_budget_s=50.0)
    assert settled.model == "als"  # lightfm: 10 s x 10 = 100 s > 50 s; als: 10 s
    assert "100 s" in settled.skipped["lightfm"]
    assert candidates.settle_final(chosen, data, fit_budget_s=None).model == "lightfm"


def test_a_model_with_its_own_time_budget_is_predicted_within_it():
    """ALS stops once max_fit_seconds is spent: at the large size a linear extrapolation
    (10 s on the sample x 158 = 1,574 s) passed it over although its fit is bounded."""
    data = Dataset("board", checkerboard())  # 240 interactions
    chosen = candidates.Candidate(
        "als", {"max_fit_seconds": 20.0}, 0.9, {"als": 0.9, "popularity": 0.5},
        recipes={"als": {"max_fit_seconds": 20.0}, "popularity": {}},
        fit_seconds={"als": 10.0, "popularity": 0.1}, selection_nnz=24,
    )  # fmt: skip
    assert candidates.own_time_bound("als", {"max_fit_seconds": 20.0}) == 40.0
    assert candidates.own_time_bound("popularity", {}) is None
    assert candidates.settle_final(chosen, data, fit_budget_s=50.0).model == "als"  # 100 -> 40
    unbounded = {"max_fit_seconds": None}
    chosen.params, chosen.recipes["als"] = unbounded, unbounded
    settled = candidates.settle_final(chosen, data, fit_budget_s=50.0)
    assert settled.model == "popularity" and "100 s" in settled.skipped["als"]


def test_a_blend_is_predicted_from_its_members_fits():
    shape = DataShape(40, 20, 240, 400)
    measured = {"als": 3.0, "popularity": 1.0}
    assert (
        candidates.estimated_seconds("blend", {"members": "als,popularity"}, shape, measured) == 8.0
    )
    # members neither measured nor estimated count nothing (a lower bound)
    assert (
        candidates.estimated_seconds("blend", {"members": "als,popularity"}, shape, {"als": 3.0})
        == 6.0
    )
    assert candidates.estimated_seconds("blend", {"members": "als,popularity"}, shape) is None
    ease = fit_seconds(get_model_class("ease"), shape)
    assert candidates.estimated_seconds("blend", {"members": "ease,als"}, shape, {"als": 3.0}) == (
        pytest.approx(2 * (ease + 3.0))
    )
    assert candidates.estimated_seconds("als", {}, shape, {"als": 3.0}) is None  # no estimate


def test_the_final_fit_shows_progress_where_the_model_has_a_bar(capsys):
    data = Dataset("board", checkerboard())
    als = candidates.fit_final(candidates.Candidate("als", {"factors": 2}, 0.9), data)
    assert als.progress is True and "100%" in capsys.readouterr().err  # implicit's tqdm bar
    assert candidates.fit_final(candidates.Candidate("popularity", {}, 0.5), data).is_fitted
