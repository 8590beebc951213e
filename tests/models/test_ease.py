"""EASE and EDLAE: the contract, the closed form against independent solves, both routes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.models import Recommender, make_model
from nbrec.models.ease import EASE, EDLAE, CatalogueTooLargeError, ease_bytes, ease_weights
from nbrec.models.linear import Spectrum, ridge_weights
from tests.conftest import checkerboard
from tests.models.contract import PersonalisedContract


def direct(x: sp.csr_matrix, lam: np.ndarray) -> np.ndarray:
    """B = I - P diagMat(1/diag(P)) with P from numpy's dense inverse (float64)."""
    g = (x.T @ x).toarray().astype(np.float64)
    p = np.linalg.inv(g + np.diag(lam))
    b = np.eye(len(g)) - p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def random_binary(users: int, items: int, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((users, items)) < 0.3).astype(np.float32))


class TestEASE(PersonalisedContract):
    def make_model(self):
        return make_model("ease", l2=10.0)

    def test_similar_items_are_the_same_group(self, fitted):
        similar = fitted.similar_items("i004", k=5)
        assert len(similar) == 5 and "i004" not in set(similar[ITEM_COL])
        assert (similar[ITEM_COL].str[1:].astype(int) % 2 == 0).all()
        assert list(similar["rank"]) == [1, 2, 3, 4, 5]

    def test_unknown_item_says_so(self, fitted):
        with pytest.raises(KeyError, match="nope"):
            fitted.similar_items("nope")


class TestEDLAE(PersonalisedContract):
    def make_model(self):
        return make_model("edlae", l2=5.0, dropout=0.5)


def test_ease_closed_form_matches_a_direct_ridge_solve():
    """Column j of B is the ridge regression of item j on the other items (independent solve)."""
    x = random_binary(60, 8)
    l2 = 5.0
    b = ease_weights(x, l2)
    dense = x.toarray().astype(float)
    for j in range(8):
        others = [i for i in range(8) if i != j]
        a = dense[:, others]
        coef = np.linalg.solve(a.T @ a + l2 * np.eye(7), a.T @ dense[:, j])
        # EASE's constraint diag(B)=0 with the Lagrangian gives the ridge on the other items
        np.testing.assert_allclose(b[others, j], coef, rtol=1e-4, atol=1e-5)
        assert b[j, j] == 0


@pytest.mark.parametrize("shape", [(30, 50), (80, 20), (40, 40)])  # Woodbury, dense, square
def test_one_spectrum_gives_every_l2(shape):
    """The EASE shortcut: B and validation scores for many l2 from one eigendecomposition
    agree with direct float64 inverses to 1e-5."""
    x = random_binary(*shape)
    spectrum = Spectrum(x, dtype=np.float64)
    for l2 in (0.5, 5.0, 50.0, 500.0):
        b = direct(x, np.full(shape[1], l2))
        np.testing.assert_allclose(spectrum.weights(l2, np.float64), b, atol=1e-5)
        rows = x[:7]
        scores = spectrum.solution(l2).scores(rows)  # float64 spectrum -> float32 out
        np.testing.assert_allclose(scores, rows.toarray() @ b, atol=1e-5)
        np.testing.assert_allclose(spectrum.solution(l2).row(3), b[3], atol=1e-5)


@pytest.mark.parametrize("scaled", [False, True])
def test_shift_scores_agree_with_direct_fits(scaled):
    """Tuning's shortcut (users < items): the training users' scores at many l2 from one
    eigendecomposition, no rows x users x items product; float64 to 1e-5 of direct inverses,
    float32 with the same top-10 as float64 direct fits."""
    x = random_binary(40, 90, seed=3)
    scale = np.linspace(0.5, 2.0, 90) if scaled else None  # EDLAE-like S = Lambda**-1/2
    spectrum = Spectrum(x, scale, dtype=np.float64)
    rows = np.array([0, 3, 7, 11, 39])
    for l2 in (0.3, 5.0, 50.0, 2000.0):
        lam = np.full(90, l2) if scale is None else l2 / scale**2
        b = direct(x, lam)
        want = x[rows].toarray() @ b
        exact = spectrum.shift_scores(l2, np.float64).scores(rows, x[rows])
        np.testing.assert_allclose(exact, want, atol=1e-5)
        fast = spectrum.shift_scores(l2).scores(rows, x[rows])  # float32, the default
        np.testing.assert_allclose(fast, want, atol=1e-4 * max(1.0, np.abs(want).max()))
        unseen = np.where(x[rows].toarray() > 0, -np.inf, 1.0)
        top = np.argsort(-(want * unseen), axis=1)[:, :10]
        assert (np.argsort(-(fast * unseen), axis=1)[:, :10] == top).mean() >= 0.98
        single = Spectrum(x, scale, dtype=np.float32).shift_scores(l2)  # sessions above rank 1k
        fast = single.scores(rows, x[rows])
        np.testing.assert_allclose(fast, want, atol=1e-3 * max(1.0, np.abs(want).max()))
        assert (np.argsort(-(fast * unseen), axis=1)[:, :10] == top).mean() >= 0.98


@pytest.mark.parametrize("n_users, n_items", [(25, 70), (90, 12)])  # ShiftScores; item space
def test_session_models_score_like_fits_and_save_like_fits(tmp_path, n_users, n_items):
    """A tuning-session model recommends, finds similar items and saves as a direct fit at
    the same l2 does: through ShiftScores (users < items) or the item-space spectrum."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({USER_COL: [f"u{u}" for u in rng.integers(0, n_users, 600)],
                          ITEM_COL: [f"i{i}" for i in rng.integers(0, n_items, 600)]})  # fmt: skip
    session = EASE.tuning_session(frame)
    users = sorted(frame[USER_COL].unique())
    for l2 in (2.0, 40.0):
        tuned = session.model(l2=l2)
        assert (tuned.tuned_ is not None) == (n_users < n_items)
        fit = make_model("ease", l2=l2).fit(frame)
        pd.testing.assert_frame_equal(tuned.recommend(users, k=8), fit.recommend(users, k=8),
                                      atol=1e-4)  # fmt: skip
        pd.testing.assert_frame_equal(tuned.similar_items("i3", k=5), fit.similar_items("i3", k=5),
                                      atol=1e-4)  # fmt: skip
    tuned.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.recommend(users[:3], k=5), fit.recommend(users[:3], k=5),
                                  atol=1e-4)  # fmt: skip


@pytest.mark.parametrize("n_users, n_items", [(25, 70), (90, 12)])
def test_edlae_session_trials_equal_direct_fits(n_users, n_items):
    """EDLAE's tuning session: a trial (one users x users Cholesky inverse when users are
    fewer) scores, and finds similar items, as a direct fit with the same parameters."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({USER_COL: [f"u{u}" for u in rng.integers(0, n_users, 700)],
                          ITEM_COL: [f"i{i}" for i in rng.integers(0, n_items, 700)]})  # fmt: skip
    session = EDLAE.tuning_session(frame)
    users = sorted(frame[USER_COL].unique())
    for params in ({"l2": 3.0, "dropout": 0.2}, {"l2": 300.0, "dropout": 0.9}):
        trial = session.model(**params)
        assert (trial.tuned_ is not None) == (n_users < n_items)
        fit = make_model("edlae", **params).fit(frame)
        rows = np.arange(len(users))
        np.testing.assert_allclose(trial._score(rows), fit._score(rows), atol=1e-4)
        pd.testing.assert_frame_equal(trial.recommend(users, k=8), fit.recommend(users, k=8),
                                      atol=1e-4)  # fmt: skip
        pd.testing.assert_frame_equal(trial.similar_items("i3", k=5), fit.similar_items("i3", k=5),
                                      atol=1e-4)  # fmt: skip


@pytest.mark.parametrize("shape", [(30, 50), (80, 20)])
def test_edlae_regulariser_on_both_routes(shape):
    """EDLAE's Lambda = l2 + p/(1-p) diag(G): both routes equal the direct solve."""
    x = random_binary(*shape, seed=1)
    lam = 3.0 + 0.5 / 0.5 * np.asarray(x.sum(axis=0)).ravel()
    np.testing.assert_allclose(ridge_weights(x, lam, np.float64), direct(x, lam), atol=1e-5)


def test_factored_route_matches_dense_and_round_trips(tmp_path):
    """Fewer users than items: the model stays factored, scores as the dense solution."""
    frame = checkerboard(n_users=12, n_items=40)
    model = make_model("ease", l2=3.0).fit(frame)
    assert model.factored_ is not None and model.dense_ is None
    b = direct(model.history_, np.full(40, 3.0))
    np.testing.assert_allclose(model._score(np.arange(12)), model.history_.toarray() @ b,
                               atol=1e-4)  # fmt: skip
    recs = model.recommend([f"u{u:03d}" for u in range(12)], k=4)
    same = recs[USER_COL].str[1:].astype(int) % 2 == recs[ITEM_COL].str[1:].astype(int) % 2
    assert same.mean() >= 0.9
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.recommend(["u001", "u002"], k=5),
                                  model.recommend(["u001", "u002"], k=5))  # fmt: skip
    pd.testing.assert_frame_equal(loaded.similar_items("i004"), model.similar_items("i004"))


def test_tuning_session_equals_separate_fits():
    frame = checkerboard(n_users=12, n_items=40)
    session = EASE.tuning_session(frame)
    for l2 in (1.0, 30.0):
        a = session.model(l2=l2).recommend(["u000", "u005"], k=6)
        b = make_model("ease", l2=l2).fit(frame).recommend(["u000", "u005"], k=6)
        pd.testing.assert_frame_equal(a, b, atol=1e-5)


def test_memory_guard_fails_clearly():
    model = make_model("ease", max_memory_gb=ease_bytes(19) / 2**30)  # 20 items need a bit more
    with pytest.raises(CatalogueTooLargeError, match=r"(?s)EASE on 20 items needs .*item_knn"):
        model.fit(checkerboard())


def test_memory_guard_can_switch_to_knn():
    model = make_model("ease", max_memory_gb=1e-9, on_too_large="knn").fit(checkerboard())
    assert model.method_ == "knn" and sp.issparse(model.dense_)
    recs = model.recommend(["u000"], k=3)
    assert (recs[ITEM_COL].str[1:].astype(int) % 2 == 0).all()


def test_ratings_are_binarised():
    frame = pd.DataFrame(
        {USER_COL: ["a", "a", "b"], ITEM_COL: ["x", "y", "x"], "weight": [5.0, 1.0, 3.0]}
    )
    model = make_model("ease", l2=1.0).fit(frame)
    assert set(model.history_.data) == {1.0}


def test_edlae_rejects_a_dropout_of_one():
    with pytest.raises(ValueError, match="dropout"):
        make_model("edlae", dropout=1.0).fit(checkerboard())
